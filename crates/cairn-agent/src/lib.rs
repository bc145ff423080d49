//! The host agent (HFM side of DESIGN.md): the hardware key that signs evidence, the HTTP
//! client of the Cairn API, and the enrollment and attestation flows built from them.

pub mod client;
pub mod flows;
pub mod hk;

pub use client::{ApiClient, ClientError};
pub use hk::{HardwareKeySigner, HkError, SoftKey};
