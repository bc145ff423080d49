//! The life cycles of hosts and ERoTs, and the verdict on an attestation, as total functions.
//!
//! Every status a host or an ERoT can be in, every change between them and every judgement of
//! evidence lives here, once. Handlers parse, load, verify and ask this module; what it
//! allows comes back as a [`HostTransition`] or an [`ErotTransition`], values that only this
//! module can make, and the store applies nothing else: each with a conditional update
//! (`… WHERE status = from`), so concurrent requests on any replica never overwrite each other.

use serde::Deserialize;

use crate::drift::Drift;
use crate::hk::HostId;
use crate::problem::Refusal;
use crate::report::Report;
use crate::unix_time::UnixTime;

crate::words!(
    "host status",
    /// DESIGN.md flow 1, step 4.
    pub enum HostStatus {
        /// Enrolled, awaiting an operator (or a TPM host's credential activation).
        Pending = "pending",
        Active = "active",
        /// A rotation window: the next attestation's new fingerprint is accepted and recorded.
        Maintenance = "maintenance",
        /// Drift or tamper was detected, or an operator said so.
        Quarantined = "quarantined",
        /// For good.
        Revoked = "revoked",
    }
);

impl HostStatus {
    /// Only active hosts, and hosts in a maintenance window, may attest or be given anything
    /// (invariant 4: a revoked or quarantined host gets nothing from the next request on).
    pub fn admit(self) -> Result<(), Refusal> {
        match self {
            Self::Active | Self::Maintenance => Ok(()),
            Self::Pending => Err(Refusal::HostPending),
            Self::Quarantined => Err(Refusal::HostQuarantined),
            Self::Revoked => Err(Refusal::HostRevoked),
        }
    }

    /// The status a new enrollment starts in: `active` with a valid join token, unless a TPM
    /// host still owes its credential activation (which then grants what the token granted).
    pub fn enrolled(join_token: bool, proof: KeyProof) -> HostStatus {
        match (join_token, proof) {
            (true, KeyProof::Proven) => Self::Active,
            _ => Self::Pending,
        }
    }

    /// What a change does to a host in this status; `Err` when the status does not allow it.
    pub fn apply(self, change: HostChange) -> Result<HostStatus, Conflict> {
        use HostAction::*;
        use HostStatus::*;
        let conflict = Err(Conflict::Status { from: self, change });
        match (change, self) {
            (HostChange::Operator(Approve), Pending | Quarantined) => Ok(Active),
            (HostChange::Operator(Revoke), Pending | Active | Maintenance | Quarantined) => {
                Ok(Revoked)
            }
            (HostChange::Operator(Quarantine), Pending | Active | Maintenance) => Ok(Quarantined),
            // Opens the maintenance window.
            (HostChange::Operator(Rotate), Active | Quarantined) => Ok(Maintenance),
            // A TPM host answered its credential challenge, and was granted activation.
            (HostChange::Activated, Pending) => Ok(Active),
            // The maintenance window closes on the attestation that presented new hardware.
            (HostChange::Rotated, Maintenance) => Ok(Active),
            // An attestation showed a different board, CPU or TPM: tamper.
            (HostChange::ImmutableDrift, Active) => Ok(Quarantined),
            // An attestation showed a tripped tamper sensor (in a maintenance window too:
            // whoever opened the chassis resets the sensor once done).
            (HostChange::Tamper, Active | Maintenance) => Ok(Quarantined),
            // The operator inspected the machine after a tamper quarantine.
            (HostChange::Operator(ClearTamper), Quarantined) => Ok(Active),
            _ => conflict,
        }
    }

    /// An operator's action: the status table above, where a host quarantined for tamper
    /// leaves quarantine only by `clear-tamper` (after inspection) and `clear-tamper` needs
    /// such a host; and no action admits a TPM host (to `active` or `maintenance`) before it
    /// has proven that its attestation key sits in its TPM.
    pub fn act(
        self,
        action: HostAction,
        proof: KeyProof,
        tamper: Tamper,
    ) -> Result<HostStatus, Conflict> {
        match (action, tamper) {
            (HostAction::ClearTamper, Tamper::None) => return Err(Conflict::NoTamper),
            (HostAction::Approve | HostAction::Rotate, Tamper::Uncleared) => {
                return Err(Conflict::TamperUncleared);
            }
            _ => {}
        }
        let to = self.apply(HostChange::Operator(action))?;
        match (to.admit(), proof) {
            (Ok(()), KeyProof::Owed) => Err(Conflict::ActivationOwed),
            _ => Ok(to),
        }
    }
}

/// Whether a host was quarantined for tamper and not cleared since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    Uncleared,
}

impl Tamper {
    /// A host's, from the sensors it is marked with.
    pub fn of(mark: &[String]) -> Tamper {
        match mark.is_empty() {
            true => Tamper::None,
            false => Tamper::Uncleared,
        }
    }
}

/// How a TPM host's endorsement key certificate stands (DESIGN.md flow 1, step 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EkTrust {
    /// It chains to a manufacturer CA the deployment trusts to admit hosts without an operator.
    AutoApprove,
    /// An operator decides.
    Operator,
}

/// What a new enrollment is given: its status now and, for a TPM host, what answering its
/// credential challenge grants. Made only by [`Admission::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    status: HostStatus,
    on_activation: Option<HostStatus>,
}

impl Admission {
    /// A new host with a join token (the store refuses the whole enrollment if it is not
    /// valid) or without; `tpm`: a TPM host, which owes its credential activation and gets
    /// what the token (or an auto-approving EK CA) grants only once it has answered.
    pub fn new(join_token: bool, tpm: Option<EkTrust>) -> Admission {
        match tpm {
            None => Admission {
                status: HostStatus::enrolled(join_token, KeyProof::Proven),
                on_activation: None,
            },
            Some(ek) => Admission {
                status: HostStatus::enrolled(join_token, KeyProof::Owed),
                on_activation: Some(HostStatus::enrolled(
                    join_token || ek == EkTrust::AutoApprove,
                    KeyProof::Proven,
                )),
            },
        }
    }

    /// The status the host is enrolled in.
    pub fn status(self) -> HostStatus {
        self.status
    }

    /// What answering the credential challenge grants (`None`: no challenge is owed).
    pub fn on_activation(self) -> Option<HostStatus> {
        self.on_activation
    }
}

/// What a change does to a host's tamper mark. The store applies a change only to a host
/// whose mark is as the life cycle judged it, so that a stale approval cannot wipe a mark set
/// meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TamperMark {
    /// The host has none, and gets none.
    Unmarked,
    /// The host has none, and is marked with these tripped sensors.
    Set(Vec<String>),
    /// The host has one, and it goes (`clear-tamper`, or a revocation).
    Clear,
}

/// A change of one host's status that the life cycle allowed: the only thing the store
/// applies to a host's status. Nothing outside this module can make one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTransition {
    host_id: HostId,
    from: HostStatus,
    to: HostStatus,
    change: HostChange,
    mark: TamperMark,
    /// The hardware that becomes the registered one (a maintenance window closing).
    accepted: Option<Report>,
}

impl HostTransition {
    /// An operator's `action` on a host in `from` ([`HostStatus::act`]); a host marked for
    /// tamper loses its mark with any action allowed.
    pub fn by_operator(
        host_id: &HostId,
        from: HostStatus,
        action: HostAction,
        proof: KeyProof,
        tamper: Tamper,
    ) -> Result<HostTransition, Conflict> {
        let to = from.act(action, proof, tamper)?;
        let mark = match tamper {
            Tamper::None => TamperMark::Unmarked,
            Tamper::Uncleared => TamperMark::Clear,
        };
        Ok(Self::new(
            host_id,
            from,
            to,
            HostChange::Operator(action),
            mark,
        ))
    }

    /// The change an attestation's `verdict` makes to its host in `from`, which presented
    /// `report`: a maintenance window closes on it, or the host is quarantined for drift or
    /// tamper. `None` when the verdict changes nothing (or the status does not allow it).
    pub fn on_attestation(
        host_id: &HostId,
        from: HostStatus,
        verdict: &Verdict,
        report: &Report,
    ) -> Option<HostTransition> {
        let (change, mark) = match verdict {
            Verdict::Rotate { .. } => (HostChange::Rotated, TamperMark::Unmarked),
            Verdict::Quarantine(_) => (HostChange::ImmutableDrift, TamperMark::Unmarked),
            Verdict::Tamper(sensors) => (HostChange::Tamper, TamperMark::Set(sensors.clone())),
            Verdict::Affirm | Verdict::Warn(_) | Verdict::Refuse(..) => return None,
        };
        let to = from.apply(change).ok()?;
        let mut transition = Self::new(host_id, from, to, change, mark);
        if change == HostChange::Rotated {
            transition.accepted = Some(report.clone());
        }
        Some(transition)
    }

    /// A TPM host answered its credential challenge, which `grants` a status: `None` when
    /// that is no change (an operator still approves it).
    pub fn on_activation(host_id: &HostId, grants: HostStatus) -> Option<HostTransition> {
        let from = HostStatus::Pending;
        let to = from.apply(HostChange::Activated).ok()?;
        (to == grants).then(|| {
            Self::new(
                host_id,
                from,
                to,
                HostChange::Activated,
                TamperMark::Unmarked,
            )
        })
    }

    fn new(
        host_id: &HostId,
        from: HostStatus,
        to: HostStatus,
        change: HostChange,
        mark: TamperMark,
    ) -> HostTransition {
        HostTransition {
            host_id: host_id.clone(),
            from,
            to,
            change,
            mark,
            accepted: None,
        }
    }

    pub fn host_id(&self) -> &HostId {
        &self.host_id
    }

    pub fn from(&self) -> HostStatus {
        self.from
    }

    pub fn to(&self) -> HostStatus {
        self.to
    }

    pub fn change(&self) -> HostChange {
        self.change
    }

    pub fn mark(&self) -> &TamperMark {
        &self.mark
    }

    /// The report that becomes the registered one, when the change closes a maintenance
    /// window.
    pub fn accepted(&self) -> Option<&Report> {
        self.accepted.as_ref()
    }
}

crate::words!(
    "host action",
    /// What an operator can do to a host (`POST /v1/hosts/{id}/{action}`, `cairn admin hosts`).
    pub enum HostAction {
        Approve = "approve",
        Revoke = "revoke",
        Quarantine = "quarantine",
        /// Opens a maintenance window for a hardware change.
        Rotate = "rotate",
        /// Ends a tamper quarantine, once the machine was inspected and its sensor reset.
        ClearTamper = "clear-tamper",
    }
);

/// Everything that changes a host's status: an operator's action, or what the host proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostChange {
    Operator(HostAction),
    /// A TPM host's credential activation that grants `active`.
    Activated,
    /// A maintenance window's attestation presented the new hardware.
    Rotated,
    /// An attestation presented another immutable component.
    ImmutableDrift,
    /// An attestation presented a tripped tamper sensor.
    Tamper,
}

/// Whether a host has proven possession of its hardware key in full. Every host signs its
/// enrollment; a TPM host also owes a credential activation until it answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProof {
    Proven,
    Owed,
}

/// Why a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("cannot {} a {from} host", change_name(*change))]
    Status {
        from: HostStatus,
        change: HostChange,
    },
    #[error("the TPM host has not yet answered its credential challenge")]
    ActivationOwed,
    #[error("the host was not quarantined for tamper: nothing to clear")]
    NoTamper,
    #[error("the host was quarantined for tamper: inspect it, reset its sensor, then clear-tamper")]
    TamperUncleared,
}

fn change_name(change: HostChange) -> &'static str {
    match change {
        HostChange::Operator(action) => action.as_str(),
        HostChange::Activated => "activate",
        HostChange::Rotated => "rotate into",
        HostChange::ImmutableDrift => "quarantine on drift",
        HostChange::Tamper => "quarantine on tamper",
    }
}

impl Conflict {
    pub fn refusal(self) -> Refusal {
        match self {
            Conflict::Status { .. } => Refusal::InvalidTransition,
            Conflict::ActivationOwed => Refusal::ActivationPending,
            Conflict::NoTamper => Refusal::InvalidTransition,
            Conflict::TamperUncleared => Refusal::TamperUncleared,
        }
    }
}

crate::words!(
    "ERoT status",
    /// DESIGN.md flow 4: `active` → `released` → `destroyed`, or `expired` before destruction.
    pub enum ErotStatus {
        Active = "active",
        Released = "released",
        Destroyed = "destroyed",
        Expired = "expired",
    }
);

/// What happens to an ERoT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErotEvent {
    /// Its private key goes, once, to its host.
    Release,
    /// The host reports the workload finished: the key is gone for good.
    Complete,
    /// Its time ran out before it was destroyed.
    Expire,
}

impl ErotStatus {
    /// The status after `event`, or `None` when the event cannot happen to an ERoT in this
    /// status: nothing leaves `destroyed` or `expired`, and a key is released at most once.
    pub fn apply(self, event: ErotEvent) -> Option<ErotStatus> {
        use ErotStatus::*;
        match (event, self) {
            (ErotEvent::Release, Active) => Some(Released),
            (ErotEvent::Complete, Active | Released) => Some(Destroyed),
            (ErotEvent::Expire, Active | Released) => Some(Expired),
            _ => None,
        }
    }

    /// Every change `event` makes: (from, to).
    pub fn changes(event: ErotEvent) -> impl Iterator<Item = (ErotStatus, ErotStatus)> {
        Self::ALL
            .iter()
            .filter_map(move |&from| Some((from, from.apply(event)?)))
    }

    /// Whether an ERoT in this status, whose time runs out at `expires_at`, can still be used
    /// at `now` (a receipt made, its key released): the one answer to that question.
    pub fn usable_at(self, expires_at: UnixTime, now: UnixTime) -> Usable {
        match (self, expires_at < now) {
            (ErotStatus::Active, false) => Usable::Yes,
            // Its time is up, and nothing marked it yet: it expires now.
            (ErotStatus::Active, true) => Usable::Expired,
            _ => Usable::Gone,
        }
    }
}

/// What [`ErotStatus::usable_at`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usable {
    Yes,
    /// Released, destroyed or expired already.
    Gone,
    /// Active, but past its time: to be marked [`ErotStatus::Expired`].
    Expired,
}

/// A change of one ERoT's status that the life cycle allowed: the only thing the store
/// applies to an ERoT. Nothing outside this module can make one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErotTransition {
    erot_id: String,
    from: ErotStatus,
    to: ErotStatus,
    event: ErotEvent,
}

impl ErotTransition {
    /// What `event` does to the ERoT `erot_id` in `from`; `None` when it cannot happen.
    pub fn new(erot_id: &str, from: ErotStatus, event: ErotEvent) -> Option<ErotTransition> {
        Some(ErotTransition {
            erot_id: erot_id.to_string(),
            from,
            to: from.apply(event)?,
            event,
        })
    }

    pub fn erot_id(&self) -> &str {
        &self.erot_id
    }

    pub fn from(&self) -> ErotStatus {
        self.from
    }

    pub fn to(&self) -> ErotStatus {
        self.to
    }

    /// A release must also find the ERoT unexpired when it is applied (invariant 5).
    pub fn event(&self) -> ErotEvent {
        self.event
    }
}

/// What a PCR outside its reference values does (`--pcr-reference`'s `on_mismatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMismatch {
    #[default]
    Refuse,
    Warn,
}

/// The server's configured tolerance.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Replaceable components that changed refuse (instead of warning).
    pub strict_drift: bool,
    pub on_pcr_mismatch: OnMismatch,
}

/// The judgement of one attestation whose signature and nonce verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An `affirming` PAT.
    Affirm,
    /// A `warning` PAT naming what drifted (`class/id`, or `pcr:N`).
    Warn(Vec<String>),
    /// The maintenance window closes: the presented hardware becomes the registered one
    /// ([`HostChange::Rotated`]), then a PAT that affirms, or warns of PCRs off their lists.
    Rotate { warn: Vec<String> },
    /// No PAT, and the host is quarantined ([`HostChange::ImmutableDrift`]): these immutable
    /// components changed.
    Quarantine(Vec<String>),
    /// No PAT, and the host is quarantined for tamper ([`HostChange::Tamper`]): these sensors
    /// are tripped.
    Tamper(Vec<String>),
    /// No PAT: why, and what it names (changed components or PCRs, if any).
    Refuse(Refusal, Vec<String>),
}

/// What an attestation's tamper sensors say: those that read tripped, and those registered
/// that it no longer reports (`chassis/chassis:SENSOR`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sensors {
    pub tripped: Vec<String>,
    pub missing: Vec<String>,
}

/// DESIGN.md flow 2, step 3: a host's status, its tamper sensors, the drift between its
/// registered and presented hardware, and the PCRs its quote shows off their reference lists,
/// judged by `policy`. A tripped sensor outweighs everything but the status; so does a missing
/// one, except in a maintenance window (which may take a sensor away, as it may a part).
pub fn judge(
    status: HostStatus,
    sensors: Sensors,
    drift: Drift,
    pcrs_off: &[u32],
    policy: Policy,
) -> Verdict {
    if let Err(refusal) = status.admit() {
        return Verdict::Refuse(refusal, vec![]);
    }
    let mut tamper = sensors.tripped;
    if status != HostStatus::Maintenance {
        tamper.extend(sensors.missing);
    }
    if !tamper.is_empty() {
        return Verdict::Tamper(tamper);
    }
    let pcrs: Vec<String> = pcrs_off.iter().map(|i| format!("pcr:{i}")).collect();
    if !pcrs.is_empty() && policy.on_pcr_mismatch == OnMismatch::Refuse {
        return Verdict::Refuse(Refusal::PcrMismatch, pcrs);
    }
    let warn = |changed: Vec<String>| match changed.is_empty() {
        true => Verdict::Affirm,
        false => Verdict::Warn(changed),
    };
    if drift.is_empty() {
        warn(pcrs)
    } else if status == HostStatus::Maintenance {
        Verdict::Rotate { warn: pcrs }
    } else if drift.immutable {
        Verdict::Quarantine(drift.changed)
    } else if policy.strict_drift {
        Verdict::Refuse(Refusal::ComponentDrift, drift.changed)
    } else {
        warn([drift.changed, pcrs].concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_status_table() {
        use HostAction::*;
        use HostStatus::*;
        let allowed = [
            (Approve, vec![Pending, Quarantined], Active),
            (
                Revoke,
                vec![Pending, Active, Maintenance, Quarantined],
                Revoked,
            ),
            (Quarantine, vec![Pending, Active, Maintenance], Quarantined),
            (Rotate, vec![Active, Quarantined], Maintenance),
        ];
        // (clear-tamper: see the tamper test.)
        for (action, from, to) in allowed {
            // Without a tamper quarantine, every action but clear-tamper follows the table.
            for &status in HostStatus::ALL {
                let got = status.act(action, KeyProof::Proven, Tamper::None);
                match from.contains(&status) {
                    true => assert_eq!(got, Ok(to), "{action} a {status} host"),
                    false => assert_eq!(got.unwrap_err().refusal(), Refusal::InvalidTransition),
                }
            }
        }
        // Nothing leaves `revoked`.
        for change in [
            HostChange::Activated,
            HostChange::Rotated,
            HostChange::ImmutableDrift,
            HostChange::Tamper,
        ]
        .into_iter()
        .chain(HostAction::ALL.iter().map(|&a| HostChange::Operator(a)))
        {
            assert!(Revoked.apply(change).is_err());
        }
        assert_eq!(Pending.apply(HostChange::Activated), Ok(Active));
        assert_eq!(Maintenance.apply(HostChange::Rotated), Ok(Active));
        assert!(Active.apply(HostChange::Rotated).is_err());
        assert_eq!(Active.apply(HostChange::ImmutableDrift), Ok(Quarantined));
    }

    #[test]
    fn a_tamper_quarantine_ends_only_by_clear_tamper() {
        use HostAction::*;
        use HostStatus::*;
        assert_eq!(Active.apply(HostChange::Tamper), Ok(Quarantined));
        assert_eq!(Maintenance.apply(HostChange::Tamper), Ok(Quarantined));
        for status in [Pending, Quarantined, Revoked] {
            assert!(status.apply(HostChange::Tamper).is_err(), "{status}");
        }
        let proven = KeyProof::Proven;
        for action in [Approve, Rotate] {
            let refused = Quarantined.act(action, proven, Tamper::Uncleared);
            assert_eq!(refused, Err(Conflict::TamperUncleared));
            assert_eq!(refused.unwrap_err().refusal(), Refusal::TamperUncleared);
        }
        assert_eq!(
            Quarantined.act(ClearTamper, proven, Tamper::Uncleared),
            Ok(Active)
        );
        assert_eq!(
            Quarantined.act(Revoke, proven, Tamper::Uncleared),
            Ok(Revoked)
        );
        // Nothing to clear on a host that was not quarantined for tamper.
        for &status in HostStatus::ALL {
            let refused = status.act(ClearTamper, proven, Tamper::None).unwrap_err();
            assert_eq!(refused.refusal(), Refusal::InvalidTransition);
        }
        // A TPM host still owes its activation after a clear.
        assert_eq!(
            Quarantined.act(ClearTamper, KeyProof::Owed, Tamper::Uncleared),
            Err(Conflict::ActivationOwed)
        );
    }

    #[test]
    fn a_tpm_host_is_approved_only_after_its_activation() {
        let owed = HostStatus::Pending.act(HostAction::Approve, KeyProof::Owed, Tamper::None);
        assert_eq!(owed, Err(Conflict::ActivationOwed));
        assert_eq!(owed.unwrap_err().refusal(), Refusal::ActivationPending);
        // Revoking or quarantining it needs no proof; quarantine is no way around it.
        assert_eq!(
            HostStatus::Pending.act(HostAction::Revoke, KeyProof::Owed, Tamper::None),
            Ok(HostStatus::Revoked)
        );
        assert_eq!(
            HostStatus::Pending.act(HostAction::Quarantine, KeyProof::Owed, Tamper::None),
            Ok(HostStatus::Quarantined)
        );
        for action in [HostAction::Approve, HostAction::Rotate] {
            assert_eq!(
                HostStatus::Quarantined.act(action, KeyProof::Owed, Tamper::None),
                Err(Conflict::ActivationOwed)
            );
        }
        assert_eq!(
            HostStatus::enrolled(true, KeyProof::Owed),
            HostStatus::Pending
        );
        assert_eq!(
            HostStatus::enrolled(true, KeyProof::Proven),
            HostStatus::Active
        );
        assert_eq!(
            HostStatus::enrolled(false, KeyProof::Proven),
            HostStatus::Pending
        );
    }

    #[test]
    fn words_round_trip() {
        for &status in HostStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        for &action in HostAction::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
        }
        for &status in ErotStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("destroy".parse::<HostAction>().is_err());
    }

    #[test]
    fn an_erot_moves_forward_only() {
        use ErotEvent::*;
        use ErotStatus::*;
        assert_eq!(Active.apply(Release), Some(Released));
        assert_eq!(Released.apply(Release), None);
        assert_eq!(Released.apply(Complete), Some(Destroyed));
        assert_eq!(Active.apply(Complete), Some(Destroyed));
        for end in [Destroyed, Expired] {
            for event in [Release, Complete, Expire] {
                assert_eq!(end.apply(event), None);
            }
        }
        assert_eq!(
            ErotStatus::changes(Expire).collect::<Vec<_>>(),
            [(Active, Expired), (Released, Expired)]
        );
    }

    fn host() -> HostId {
        "h_00000000000000000000000000000001".parse().unwrap()
    }

    #[test]
    fn an_enrollment_is_admitted_as_its_credentials_allow() {
        use HostStatus::*;
        let admitted = |join, tpm| {
            let a = Admission::new(join, tpm);
            (a.status(), a.on_activation())
        };
        assert_eq!(admitted(false, None), (Pending, None));
        assert_eq!(admitted(true, None), (Active, None));
        // A TPM host is pending until it answers; then it gets what its credentials grant.
        assert_eq!(
            admitted(false, Some(EkTrust::Operator)),
            (Pending, Some(Pending))
        );
        assert_eq!(
            admitted(true, Some(EkTrust::Operator)),
            (Pending, Some(Active))
        );
        assert_eq!(
            admitted(false, Some(EkTrust::AutoApprove)),
            (Pending, Some(Active))
        );
    }

    #[test]
    fn transitions_come_only_from_the_tables() {
        use HostStatus::*;
        let id = host();
        let report = Report::new(vec![]);
        // An operator's: the table, and the tamper mark cleared by any action on a marked host.
        let approve = HostTransition::by_operator(
            &id,
            Pending,
            HostAction::Approve,
            KeyProof::Proven,
            Tamper::None,
        )
        .unwrap();
        assert_eq!((approve.from(), approve.to()), (Pending, Active));
        assert_eq!(approve.mark(), &TamperMark::Unmarked);
        assert_eq!(approve.change(), HostChange::Operator(HostAction::Approve));
        let revoke = HostTransition::by_operator(
            &id,
            Quarantined,
            HostAction::Revoke,
            KeyProof::Proven,
            Tamper::Uncleared,
        )
        .unwrap();
        assert_eq!((revoke.to(), revoke.mark()), (Revoked, &TamperMark::Clear));
        assert_eq!(
            HostTransition::by_operator(
                &id,
                Revoked,
                HostAction::Approve,
                KeyProof::Proven,
                Tamper::None
            )
            .unwrap_err()
            .refusal(),
            Refusal::InvalidTransition
        );
        // An attestation's: only the verdicts that change the host, as the table allows.
        let sensors = vec!["chassis/chassis:x".to_string()];
        let tamper =
            HostTransition::on_attestation(&id, Active, &Verdict::Tamper(sensors.clone()), &report)
                .unwrap();
        assert_eq!(
            (tamper.to(), tamper.mark()),
            (Quarantined, &TamperMark::Set(sensors.clone()))
        );
        assert!(tamper.accepted().is_none());
        let rotate = Verdict::Rotate { warn: vec![] };
        let rotated = HostTransition::on_attestation(&id, Maintenance, &rotate, &report).unwrap();
        assert_eq!((rotated.to(), rotated.accepted()), (Active, Some(&report)));
        assert!(HostTransition::on_attestation(&id, Active, &rotate, &report).is_none());
        assert!(
            HostTransition::on_attestation(&id, Quarantined, &Verdict::Tamper(sensors), &report)
                .is_none()
        );
        for verdict in [Verdict::Affirm, Verdict::Warn(vec!["nic/0".into()])] {
            assert!(HostTransition::on_attestation(&id, Active, &verdict, &report).is_none());
        }
        // A credential activation: to active only when it grants that.
        assert_eq!(
            HostTransition::on_activation(&id, Active).unwrap().to(),
            Active
        );
        assert!(HostTransition::on_activation(&id, Pending).is_none());
    }

    #[test]
    fn an_erot_is_usable_while_active_and_in_time() {
        use ErotStatus::*;
        let at = UnixTime::from_secs;
        assert_eq!(Active.usable_at(at(100), at(100)), Usable::Yes);
        assert_eq!(Active.usable_at(at(100), at(101)), Usable::Expired);
        for status in [Released, Destroyed, Expired] {
            assert_eq!(status.usable_at(at(100), at(50)), Usable::Gone);
            assert_eq!(status.usable_at(at(100), at(150)), Usable::Gone);
        }
        let release = ErotTransition::new("e_1", Active, ErotEvent::Release).unwrap();
        assert_eq!((release.from(), release.to()), (Active, Released));
        assert!(ErotTransition::new("e_1", Released, ErotEvent::Release).is_none());
        assert!(ErotTransition::new("e_1", Destroyed, ErotEvent::Expire).is_none());
    }

    fn drift(changed: &[&str], immutable: bool) -> Drift {
        Drift {
            changed: changed.iter().map(|s| s.to_string()).collect(),
            immutable,
        }
    }

    #[test]
    fn verdicts() {
        use HostStatus::*;
        let lax = Policy::default();
        let strict = Policy {
            strict_drift: true,
            on_pcr_mismatch: OnMismatch::Warn,
        };
        let none = Drift::default;
        assert_eq!(
            judge(Active, Sensors::default(), none(), &[], lax),
            Verdict::Affirm
        );
        assert_eq!(
            judge(Pending, Sensors::default(), none(), &[], lax),
            Verdict::Refuse(Refusal::HostPending, vec![])
        );
        assert_eq!(
            judge(
                Revoked,
                Sensors::default(),
                drift(&["board/board"], true),
                &[],
                lax
            ),
            Verdict::Refuse(Refusal::HostRevoked, vec![])
        );
        assert_eq!(
            judge(
                Active,
                Sensors::default(),
                drift(&["nic/eth0"], false),
                &[],
                lax
            ),
            Verdict::Warn(vec!["nic/eth0".into()])
        );
        assert_eq!(
            judge(
                Active,
                Sensors::default(),
                drift(&["nic/eth0"], false),
                &[],
                strict
            ),
            Verdict::Refuse(Refusal::ComponentDrift, vec!["nic/eth0".into()])
        );
        assert_eq!(
            judge(
                Active,
                Sensors::default(),
                drift(&["cpu/0"], true),
                &[],
                strict
            ),
            Verdict::Quarantine(vec!["cpu/0".into()])
        );
        // A maintenance window accepts even immutable changes.
        assert_eq!(
            judge(
                Maintenance,
                Sensors::default(),
                drift(&["cpu/0"], true),
                &[7],
                strict
            ),
            Verdict::Rotate {
                warn: vec!["pcr:7".into()]
            }
        );
        // A tripped sensor outweighs drift, a maintenance window and PCRs; not the status.
        let tripped = || vec!["chassis/chassis:hwmon.it87.intrusion0".to_string()];
        let gone = || vec!["chassis/chassis:ipmi.intrusion".to_string()];
        let sensors = |tripped, missing| Sensors { tripped, missing };
        for status in [Active, Maintenance] {
            assert_eq!(
                judge(
                    status,
                    sensors(tripped(), vec![]),
                    drift(&["cpu/0"], true),
                    &[0],
                    strict
                ),
                Verdict::Tamper(tripped())
            );
        }
        assert_eq!(
            judge(Quarantined, sensors(tripped(), vec![]), none(), &[], lax),
            Verdict::Refuse(Refusal::HostQuarantined, vec![])
        );
        // A sensor gone silent is tamper, unless a maintenance window takes it away.
        assert_eq!(
            judge(Active, sensors(tripped(), gone()), none(), &[], lax),
            Verdict::Tamper([tripped(), gone()].concat())
        );
        let rotated = judge(
            Maintenance,
            sensors(vec![], gone()),
            drift(&["chassis/chassis"], false),
            &[],
            lax,
        );
        assert_eq!(rotated, Verdict::Rotate { warn: vec![] });
        // PCRs refuse before anything else, or join the drift as warnings.
        assert_eq!(
            judge(
                Maintenance,
                Sensors::default(),
                drift(&["cpu/0"], true),
                &[0, 7],
                lax
            ),
            Verdict::Refuse(Refusal::PcrMismatch, vec!["pcr:0".into(), "pcr:7".into()])
        );
        assert_eq!(
            judge(
                Active,
                Sensors::default(),
                drift(&["nic/eth0"], false),
                &[7],
                Policy {
                    on_pcr_mismatch: OnMismatch::Warn,
                    ..lax
                }
            ),
            Verdict::Warn(vec!["nic/eth0".into(), "pcr:7".into()])
        );
    }
}
