//! The host agent (HFM side of DESIGN.md): the hardware key that signs evidence, the
//! enrollment and attestation flows built from them, the boot
//! client with its volume backends, and the RHEM, which runs encrypted workloads in a sandbox.

pub mod boot;
pub mod flows;
pub mod hk;
pub mod run;
pub mod volume;

pub use hk::{HardwareKeySigner, HkError, HkSpec, SoftKey};
