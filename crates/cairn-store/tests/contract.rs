//! The store's contract, run against every backend: SQLite always, PostgreSQL when reachable
//! (CI requires it; see `cairn_store::testing`).

use cairn_proto::HostStatus;
use cairn_proto::api::TokenRole;
use cairn_proto::lifecycle::{
    EkTrust, ErotEvent, ErotTransition, HostTransition, KeyProof, Tamper, Verdict,
};
use cairn_proto::{Component, ComponentClass, HardwareKey, HkAlg, Nonce, Report};
use cairn_proto::{HostAction, HostId, UnixTime};
use cairn_store::{Challenge, Enrolled, NewEntry, NewHost, Store, Transition, testing};

/// A moment, in seconds since the epoch.
fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

/// Runs `check` on a fresh SQLite store and, when available, a fresh PostgreSQL store.
async fn each_backend<F, Fut>(label: &str, check: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    each_backend_at(label, |store, _| check(store)).await;
}

/// [`each_backend`], with the database's URL too (for a raw connection that tampers).
async fn each_backend_at<F, Fut>(label: &str, check: F)
where
    F: Fn(Store, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(&dir.path().join("cairn.db"));
    check(Store::connect(&url).await.unwrap(), url).await;
    if let Some(url) = testing::fresh_postgres(label).await {
        check(Store::connect(&url).await.unwrap(), url).await;
    }
}

fn new_host(seed: u8, serial: &str) -> NewHost {
    let report = Report::new(vec![Component {
        class: ComponentClass::Board,
        id: "board".into(),
        values: [("product_serial".to_string(), serial.to_string())].into(),
    }]);
    NewHost {
        name: format!("host-{seed}"),
        hk: HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: vec![seed; 32],
        },
        report,
        challenge: None,
    }
}

/// A log entry for a change (what it says does not matter here).
fn entry() -> NewEntry {
    NewEntry {
        kind: "host.approved".into(),
        at: 0,
        subject: "h_test".into(),
        owner: None,
        bytes: br#"{"type":"host.approved"}"#.to_vec(),
    }
}

/// The operator's action that moves a host without a tamper mark from `from` to `to`.
fn change(id: &HostId, from: HostStatus, to: HostStatus) -> HostTransition {
    let action = HostAction::ALL
        .iter()
        .copied()
        .find(|&a| from.act(a, KeyProof::Proven, Tamper::None) == Ok(to))
        .unwrap_or_else(|| panic!("no action moves a {from} host to {to}"));
    operator(id, from, action, Tamper::None)
}

fn operator(id: &HostId, from: HostStatus, action: HostAction, tamper: Tamper) -> HostTransition {
    HostTransition::by_operator(id, from, action, KeyProof::Proven, tamper).unwrap()
}

/// A tamper quarantine, judged on a host in `from`.
fn tamper(id: &HostId, from: HostStatus, sensors: &[String]) -> HostTransition {
    let verdict = Verdict::Tamper(sensors.to_vec());
    HostTransition::on_attestation(id, from, &verdict, &new_host(0, "-").report).unwrap()
}

/// An operator's `action` judged on a host quarantined for tamper.
fn clear(id: &HostId, action: HostAction) -> HostTransition {
    operator(id, HostStatus::Quarantined, action, Tamper::Uncleared)
}

/// A maintenance window closing on `report`.
fn rotation(id: &HostId, report: &Report) -> HostTransition {
    let verdict = Verdict::Rotate { warn: vec![] };
    HostTransition::on_attestation(id, HostStatus::Maintenance, &verdict, report).unwrap()
}

fn erot_change(id: &str, from: cairn_proto::ErotStatus, event: ErotEvent) -> ErotTransition {
    ErotTransition::new(id, from, event).unwrap()
}

#[tokio::test]
async fn a_nonce_is_used_once_and_forgotten_after_it_expires() {
    each_backend("nonces", |store| async move {
        let (a, b) = (Nonce::random(), Nonce::random());
        assert!(store.use_nonce(&a, 1_000).await.unwrap());
        assert!(!store.use_nonce(&a, 1_000).await.unwrap());
        assert!(store.use_nonce(&b, 10).await.unwrap());
        assert_eq!(store.prune_nonces(500).await.unwrap(), 1);
        // Still remembered until its own expiry.
        assert!(!store.use_nonce(&a, 1_000).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_raced_nonce_is_used_exactly_once() {
    each_backend("nonce-race", |store| async move {
        for _ in 0..20 {
            let nonce = Nonce::random();
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { store.use_nonce(&nonce, 1_000).await.unwrap() })
                })
                .collect();
            let mut wins = 0;
            for r in racers {
                wins += r.await.unwrap() as usize;
            }
            assert_eq!(wins, 1);
        }
    })
    .await;
}

#[tokio::test]
async fn enrollments_without_a_join_token_stop_at_the_pending_cap() {
    each_backend("pending-cap", |store| async move {
        assert!(matches!(
            store
                .enroll_host(new_host(31, "S31"), None, 1, at(100), &entry())
                .await
                .unwrap(),
            Enrolled::Created(_)
        ));
        assert!(matches!(
            store
                .enroll_host(new_host(32, "S32"), None, 1, at(100), &entry())
                .await
                .unwrap(),
            Enrolled::PendingFull(1)
        ));
        assert!(
            store
                .host(&new_host(32, "S32").hk.host_id())
                .await
                .unwrap()
                .is_none()
        );
        // Enrolling a registered key again adds nothing and is not refused.
        assert!(matches!(
            store
                .enroll_host(new_host(31, "S31"), None, 1, at(101), &entry())
                .await
                .unwrap(),
            Enrolled::Existing(_)
        ));
        // A join token is a credential: not counted against the cap.
        store
            .insert_token("join-cap", TokenRole::Join, None, at(100), &entry())
            .await
            .unwrap();
        assert!(matches!(
            store
                .enroll_host(new_host(33, "S33"), Some("join-cap"), 1, at(100), &entry())
                .await
                .unwrap(),
            Enrolled::Created(_)
        ));
    })
    .await;
}

#[tokio::test]
async fn enrollment_is_idempotent_per_key_and_join_tokens_are_single_use() {
    each_backend("enroll", |store| async move {
        let Enrolled::Created(host) = store
            .enroll_host(new_host(1, "S1"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        else {
            panic!("first enrollment creates")
        };
        assert_eq!(host.status, HostStatus::Pending);
        // Same key again, even with another name and report: the existing record.
        let Enrolled::Existing(again) = store
            .enroll_host(new_host(1, "S2"), None, u64::MAX, at(101), &entry())
            .await
            .unwrap()
        else {
            panic!("second enrollment finds the first")
        };
        assert_eq!(
            (again.host_id.clone(), again.fingerprint),
            (host.host_id.clone(), host.fingerprint)
        );
        assert_eq!(store.hosts().await.unwrap().len(), 1);

        store
            .insert_token(
                "joinhash",
                TokenRole::Join,
                Some(at(1_000)),
                at(100),
                &entry(),
            )
            .await
            .unwrap();
        let Enrolled::Created(joined) = store
            .enroll_host(
                new_host(2, "S2"),
                Some("joinhash"),
                u64::MAX,
                at(100),
                &entry(),
            )
            .await
            .unwrap()
        else {
            panic!("join token enrolls")
        };
        assert_eq!(joined.status, HostStatus::Active);
        assert!(matches!(
            store
                .enroll_host(
                    new_host(3, "S3"),
                    Some("joinhash"),
                    u64::MAX,
                    at(100),
                    &entry()
                )
                .await
                .unwrap(),
            Enrolled::JoinTokenRejected
        ));
        store
            .insert_token("expired", TokenRole::Join, Some(at(50)), at(10), &entry())
            .await
            .unwrap();
        assert!(matches!(
            store
                .enroll_host(
                    new_host(3, "S3"),
                    Some("expired"),
                    u64::MAX,
                    at(100),
                    &entry()
                )
                .await
                .unwrap(),
            Enrolled::JoinTokenRejected
        ));
        // A rejected join left nothing behind.
        assert_eq!(store.hosts().await.unwrap().len(), 2);
        assert_eq!(store.history(&joined.host_id).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_tpm_host_takes_effect_only_once_it_answers_its_challenge() {
    each_backend("activation", |store| async move {
        let tpm_host = |seed, ek| NewHost {
            challenge: Some(Challenge {
                secret_digest: format!("digest-{seed}"),
                ek,
            }),
            ..new_host(seed, "T")
        };
        // Without a join token, answering leaves it for an operator, who may approve only
        // after the answer.
        let Enrolled::Created(host) = store
            .enroll_host(
                tpm_host(20, EkTrust::Operator),
                None,
                u64::MAX,
                at(100),
                &entry(),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        let id = host.host_id.clone();
        assert!(store.activation_pending(&id).await.unwrap());
        let (approval, approval_entry) = (
            change(&id, HostStatus::Pending, HostStatus::Active),
            entry(),
        );
        let approve = || store.apply_host(&approval, &approval_entry, at(101));
        // (The life cycle refuses the approval while the activation is owed: see
        // `cairn_proto::lifecycle`'s `a_tpm_host_is_approved_only_after_its_activation`.)
        assert!(
            store
                .activate_host(&id, "wrong", at(102), |_| entry())
                .await
                .unwrap()
                .is_none()
        );
        // Enrolling again replaces the challenge.
        let again = NewHost {
            challenge: Some(Challenge {
                secret_digest: "digest-new".into(),
                ek: EkTrust::Operator,
            }),
            ..new_host(20, "T")
        };
        assert!(matches!(
            store
                .enroll_host(again, None, u64::MAX, at(103), &entry())
                .await
                .unwrap(),
            Enrolled::Existing(_)
        ));
        assert!(
            store
                .activate_host(&id, "digest-20", at(104), |_| entry())
                .await
                .unwrap()
                .is_none()
        );
        let answered = store
            .activate_host(&id, "digest-new", at(105), |_| entry())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answered.status, HostStatus::Pending);
        assert!(!store.activation_pending(&id).await.unwrap());
        assert!(
            store
                .activate_host(&id, "digest-new", at(106), |_| entry())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(approve().await.unwrap(), Transition::Done(_)));

        // A join token (or an auto-approving EK CA) makes the answer activate it.
        store
            .insert_token("tpm-join", TokenRole::Join, None, at(100), &entry())
            .await
            .unwrap();
        let Enrolled::Created(joined) = store
            .enroll_host(
                tpm_host(21, EkTrust::Operator),
                Some("tpm-join"),
                u64::MAX,
                at(100),
                &entry(),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(joined.status, HostStatus::Pending);
        let active = store
            .activate_host(&joined.host_id, "digest-21", at(101), |_| entry())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(active.status, HostStatus::Active);
        let Enrolled::Created(auto) = store
            .enroll_host(
                tpm_host(22, EkTrust::AutoApprove),
                None,
                u64::MAX,
                at(100),
                &entry(),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        let auto = store
            .activate_host(&auto.host_id, "digest-22", at(101), |_| entry())
            .await
            .unwrap();
        assert_eq!(auto.unwrap().status, HostStatus::Active);
    })
    .await;
}

#[tokio::test]
async fn transitions_are_conditional_and_maintenance_accepts_a_new_fingerprint() {
    each_backend("transitions", |store| async move {
        let Enrolled::Created(host) = store
            .enroll_host(new_host(7, "S7"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        else {
            panic!()
        };
        let id = host.host_id.clone();
        let t = store
            .apply_host(
                &change(&id, HostStatus::Pending, HostStatus::Active),
                &entry(),
                at(101),
            )
            .await
            .unwrap();
        assert!(matches!(t, Transition::Done(h) if h.status == HostStatus::Active));
        let t = store
            .apply_host(
                &change(&id, HostStatus::Pending, HostStatus::Active),
                &entry(),
                at(102),
            )
            .await
            .unwrap();
        assert!(matches!(t, Transition::Conflict(HostStatus::Active)));
        let missing = "h_00000000000000000000000000000000".parse().unwrap();
        assert!(matches!(
            store
                .apply_host(
                    &change(&missing, HostStatus::Active, HostStatus::Revoked),
                    &entry(),
                    at(1)
                )
                .await
                .unwrap(),
            Transition::NotFound
        ));

        // Not in maintenance: a new fingerprint is not accepted.
        let new_report = new_host(7, "S7-new").report;
        assert!(matches!(
            store
                .apply_host(&rotation(&id, &new_report), &entry(), at(103))
                .await
                .unwrap(),
            Transition::Conflict(HostStatus::Active)
        ));
        store
            .apply_host(
                &change(&id, HostStatus::Active, HostStatus::Maintenance),
                &entry(),
                at(104),
            )
            .await
            .unwrap();
        assert!(matches!(
            store
                .apply_host(&rotation(&id, &new_report), &entry(), at(105))
                .await
                .unwrap(),
            Transition::Done(_)
        ));
        let after = store.host(&id).await.unwrap().unwrap();
        assert_eq!(
            (after.status, after.fingerprint),
            (HostStatus::Active, new_report.fingerprint())
        );
        let history = store.history(&id).await.unwrap();
        assert_eq!(
            history
                .iter()
                .map(|h| h.reason.as_str())
                .collect::<Vec<_>>(),
            ["enrolled", "rotated"]
        );
        assert_eq!(history[0].fingerprint, host.fingerprint);
    })
    .await;
}

#[tokio::test]
async fn a_tamper_mark_is_set_with_its_quarantine_and_only_a_clear_or_revoke_removes_it() {
    each_backend("tamper", |store| async move {
        let Enrolled::Created(host) = store
            .enroll_host(new_host(8, "S8"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        else {
            panic!()
        };
        let id = host.host_id.clone();
        store
            .apply_host(&change(&id, HostStatus::Pending, HostStatus::Active), &entry(), at(101))
            .await
            .unwrap();
        let sensors = vec!["chassis/chassis:hwmon.it87.intrusion0".to_string()];
        let t = store
            .apply_host(&tamper(&id, HostStatus::Active, &sensors), &entry(), at(102))
            .await
            .unwrap();
        assert!(matches!(&t, Transition::Done(h) if h.status == HostStatus::Quarantined && h.tamper == sensors));
        assert_eq!(store.host(&id).await.unwrap().unwrap().tamper, sensors);
        // An action judged on an unmarked host (a stale approve) does not apply to a marked
        // one, nor does a second tamper quarantine.
        let stale = store
            .apply_host(&change(&id, HostStatus::Quarantined, HostStatus::Active), &entry(), at(103))
            .await
            .unwrap();
        assert!(matches!(stale, Transition::Conflict(HostStatus::Quarantined)));
        let again = store
            .apply_host(&tamper(&id, HostStatus::Active, &sensors), &entry(), at(103))
            .await
            .unwrap();
        assert!(matches!(again, Transition::Conflict(_)));
        let cleared = store
            .apply_host(&clear(&id, HostAction::ClearTamper), &entry(), at(104))
            .await
            .unwrap();
        assert!(matches!(&cleared, Transition::Done(h) if h.status == HostStatus::Active && h.tamper.is_empty()));
        // Once cleared, there is no mark to leave.
        let twice = store
            .apply_host(&clear(&id, HostAction::ClearTamper), &entry(), at(105))
            .await
            .unwrap();
        assert!(matches!(twice, Transition::Conflict(HostStatus::Active)));
        // Revoking a marked host removes its mark with it.
        store
            .apply_host(&tamper(&id, HostStatus::Active, &sensors), &entry(), at(106))
            .await
            .unwrap();
        let revoked = store
            .apply_host(&clear(&id, HostAction::Revoke), &entry(), at(107))
            .await
            .unwrap();
        assert!(matches!(&revoked, Transition::Done(h) if h.status == HostStatus::Revoked && h.tamper.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn a_webhooks_place_is_kept_and_leased_to_one_owner_at_a_time() {
    each_backend("webhooks", |store| async move {
        let signer = log_signer();
        store.open_log(&signer).await.unwrap();
        let entry = |i| log_entry(i, None);
        store
            .append_log(&[entry(0), entry(1)], &signer, None)
            .await
            .unwrap();
        // A new webhook starts at the log's size; registering again keeps its place.
        let hook = "https://hooks.example/a#host.*";
        assert_eq!(store.register_webhook(hook).await.unwrap(), 2);
        store.append_log(&[entry(2)], &signer, None).await.unwrap();
        assert_eq!(store.register_webhook(hook).await.unwrap(), 2);
        assert_eq!(
            store
                .lease_webhook(hook, "a", at(10), at(100))
                .await
                .unwrap(),
            Some(2)
        );
        // Another owner waits for the lease to run out; the holder renews it.
        assert_eq!(
            store
                .lease_webhook(hook, "b", at(50), at(140))
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .webhook_delivered(hook, "a", 3, at(120))
                .await
                .unwrap()
        );
        assert!(
            !store
                .webhook_delivered(hook, "b", 3, at(120))
                .await
                .unwrap()
        );
        // Never backwards.
        assert!(
            !store
                .webhook_delivered(hook, "a", 1, at(120))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .lease_webhook(hook, "b", at(121), at(200))
                .await
                .unwrap(),
            Some(3)
        );
        assert!(
            !store
                .webhook_delivered(hook, "a", 4, at(220))
                .await
                .unwrap()
        );
        // A lease given up is taken at once.
        store.release_webhooks("b").await.unwrap();
        assert_eq!(
            store
                .lease_webhook(hook, "a", at(122), at(200))
                .await
                .unwrap(),
            Some(3)
        );
        // Unknown webhooks have no place to lease.
        assert_eq!(
            store
                .lease_webhook("https://other/", "a", at(1), at(2))
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn admin_tokens_are_found_by_hash_until_they_expire() {
    each_backend("tokens", |store| async move {
        store
            .insert_token("adm", TokenRole::Admin, None, at(1), &entry())
            .await
            .unwrap();
        store
            .insert_token("short", TokenRole::Admin, Some(at(10)), at(1), &entry())
            .await
            .unwrap();
        store
            .insert_token("join", TokenRole::Join, None, at(1), &entry())
            .await
            .unwrap();
        assert!((store.bearer_role("adm", at(100)).await.unwrap() == Some(TokenRole::Admin)));
        assert!((store.bearer_role("short", at(5)).await.unwrap() == Some(TokenRole::Admin)));
        assert!(!(store.bearer_role("short", at(100)).await.unwrap() == Some(TokenRole::Admin)));
        assert!(
            !(store.bearer_role("join", at(5)).await.unwrap() == Some(TokenRole::Admin)),
            "a join token is not an admin token"
        );
        assert!(!(store.bearer_role("nope", at(5)).await.unwrap() == Some(TokenRole::Admin)));
    })
    .await;
}

#[tokio::test]
async fn bad_urls_are_refused() {
    assert!(Store::connect("mysql://x").await.is_err());
}

#[tokio::test]
async fn volumes_are_never_overwritten_and_instances_are_replaced() {
    use cairn_store::{InstanceRecord, VolumeRecord};
    each_backend("volumes", |store| async move {
        let volume = |id: &str, wrapped: u8| VolumeRecord {
            volume_id: id.into(),
            format: cairn_proto::api::VolumeFormat::Luks,
            wrapped_key: vec![wrapped; 60],
            kek_id: "file:abc".into(),
            created_at: 100,
        };
        assert!(store.insert_volume(&volume("vol-1", 1)).await.unwrap());
        assert!(!store.insert_volume(&volume("vol-1", 2)).await.unwrap());
        let stored = store.volume("vol-1").await.unwrap().unwrap();
        assert_eq!(stored.wrapped_key, vec![1; 60]);
        assert_eq!(stored.kek_id, "file:abc");
        assert!(store.volume("vol-2").await.unwrap().is_none());
        assert_eq!(store.volumes().await.unwrap().len(), 1);

        let host = match store
            .enroll_host(new_host(7, "S7"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        {
            Enrolled::Created(h) => h.host_id.clone(),
            other => panic!("{other:?}"),
        };
        let mut instance = InstanceRecord {
            instance_id: "i-1".into(),
            host_id: host.clone(),
            volume_ids: vec!["vol-1".into()],
            image_digest: None,
        };
        store
            .upsert_instance(&instance, at(100), &entry())
            .await
            .unwrap();
        instance.volume_ids.push("vol-2".into());
        instance.image_digest = Some("sha256:00".into());
        store
            .upsert_instance(&instance, at(200), &entry())
            .await
            .unwrap();
        let got = store.instance("i-1").await.unwrap().unwrap();
        assert_eq!(got.instance.volume_ids, ["vol-1", "vol-2"]);
        assert_eq!(got.instance.host_id, host);
        assert_eq!(got.instance.image_digest.as_deref(), Some("sha256:00"));
        assert!(got.honours(&host, at(150)));
        // Revoked: every token issued until then (that second included) is void.
        assert!(
            store
                .revoke_instance("i-1", at(300), &entry())
                .await
                .unwrap()
        );
        let got = store.instance("i-1").await.unwrap().unwrap();
        assert!(!got.honours(&host, at(300)) && !got.honours(&host, at(150)));
        // Placed again: new tokens count, the voided ones stay void.
        store
            .upsert_instance(&instance, at(400), &entry())
            .await
            .unwrap();
        let got = store.instance("i-1").await.unwrap().unwrap();
        assert!(got.honours(&host, at(400)) && !got.honours(&host, at(300)));
        assert!(
            !store
                .revoke_instance("i-none", at(1), &entry())
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn tokens_are_listed_by_id_and_revoked_tokens_stop_working() {
    each_backend("token-revoke", |store| async move {
        let admin = "a".repeat(64);
        let join = "b".repeat(64);
        store
            .insert_token(&admin, TokenRole::Admin, None, at(100), &entry())
            .await
            .unwrap();
        store
            .insert_token(&join, TokenRole::Join, None, at(101), &entry())
            .await
            .unwrap();
        let listed = store.tokens().await.unwrap();
        assert_eq!(
            listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            [format!("t_{}", &admin[..16]), format!("t_{}", &join[..16])]
        );
        assert_eq!(
            store.bearer_role(&admin, at(200)).await.unwrap(),
            Some(TokenRole::Admin)
        );
        let revoked = store
            .revoke_token(&listed[0].id, at(300), &entry())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(300));
        // A second revocation keeps the first's time.
        let again = store
            .revoke_token(&listed[0].id, at(400), &entry())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.revoked_at, Some(300));
        assert_eq!(store.bearer_role(&admin, at(301)).await.unwrap(), None);
        // A revoked join token enrolls nobody.
        store
            .revoke_token(&listed[1].id, at(300), &entry())
            .await
            .unwrap();
        assert!(matches!(
            store
                .enroll_host(
                    new_host(40, "S40"),
                    Some(&join),
                    u64::MAX,
                    at(301),
                    &entry()
                )
                .await
                .unwrap(),
            Enrolled::JoinTokenRejected
        ));
        for bad in [
            "t_zzzzzzzzzzzzzzzz",
            "t_%",
            "x",
            &format!("t_{}", &admin[..15]),
        ] {
            assert!(
                store
                    .revoke_token(bad, at(500), &entry())
                    .await
                    .unwrap()
                    .is_none(),
                "{bad}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_sqlite_database_belongs_to_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(&dir.path().join("cairn.db"));
    let first = Store::connect(&url).await.unwrap();
    let err = Store::connect(&url)
        .await
        .err()
        .expect("a second owner is refused");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    // Nor does another name for the same file get past the lock: a symlink, a `..` path.
    let link = dir.path().join("other-name.db");
    std::os::unix::fs::symlink(dir.path().join("cairn.db"), &link).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for alias in [link, sub.join("../cairn.db")] {
        let err = Store::connect(&Store::sqlite_url(&alias))
            .await
            .err()
            .expect("a second owner under another name is refused");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
    }
    first.close().await;
    drop(first);
    Store::connect(&url)
        .await
        .expect("free again once the owner is gone");
}

/// The in-process host cache never serves a status older than the last committed change.
#[tokio::test]
async fn host_lookups_see_every_committed_change() {
    each_backend("host-cache", |store| async move {
        let host = match store
            .enroll_host(new_host(9, "S9"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        {
            Enrolled::Created(h) => h.host_id.clone(),
            other => panic!("{other:?}"),
        };
        for (from, to) in [
            (HostStatus::Pending, HostStatus::Active),
            (HostStatus::Active, HostStatus::Quarantined),
            (HostStatus::Quarantined, HostStatus::Active),
            (HostStatus::Active, HostStatus::Revoked),
        ] {
            assert_eq!(store.host(&host).await.unwrap().unwrap().status, from);
            assert!(matches!(
                store
                    .apply_host(&change(&host, from, to), &entry(), at(200))
                    .await
                    .unwrap(),
                Transition::Done(_)
            ));
            assert_eq!(store.host(&host).await.unwrap().unwrap().status, to);
        }
    })
    .await;
}

#[tokio::test]
async fn an_erot_moves_forward_once_and_expires() {
    use cairn_proto::ErotStatus;
    use cairn_store::ErotRecord;
    each_backend("erots", |store| async move {
        let host = match store
            .enroll_host(new_host(11, "S11"), None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        {
            Enrolled::Created(h) => h,
            other => panic!("{other:?}"),
        };
        const E1: &str = "e_00000000000000000000000000000001";
        const E2: &str = "e_00000000000000000000000000000002";
        let erot = |id: &str, expires_at: i64| ErotRecord {
            erot_id: id.parse().unwrap(),
            owner: "owner-hash".into(),
            host_id: host.host_id.clone(),
            hk_public: host.hk.public_key.clone(),
            workload: serde_json::json!({ "name": "w", "args": ["a"] }),
            workload_digest: cairn_proto::Digest::sha256("w"),
            nonce: vec![3; 40],
            erot_pub: [4; 32],
            status: ErotStatus::Active,
            expires_at: at(expires_at),
            created_at: at(100),
        };
        store.insert_erot(&erot(E1, 1_000), &entry()).await.unwrap();
        store.insert_erot(&erot(E2, 150), &entry()).await.unwrap();
        let got = store.erot(E1).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.nonce.clone(), got.erot_pub),
            (ErotStatus::Active, vec![3; 40], [4; 32])
        );
        assert_eq!(got.workload["args"][0], "a");
        // Released once: the second attempt loses.
        assert!(
            store
                .apply_erot(
                    &erot_change(E1, ErotStatus::Active, ErotEvent::Release),
                    &entry(),
                    at(200)
                )
                .await
                .unwrap()
        );
        assert!(
            !store
                .apply_erot(
                    &erot_change(E1, ErotStatus::Active, ErotEvent::Release),
                    &entry(),
                    at(201)
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .apply_erot(
                    &erot_change(E1, ErotStatus::Released, ErotEvent::Complete),
                    &entry(),
                    at(202)
                )
                .await
                .unwrap()
        );
        // No key goes past its expiry, even to a request that read the ERoT before it.
        assert!(
            !store
                .apply_erot(
                    &erot_change(E2, ErotStatus::Active, ErotEvent::Release),
                    &entry(),
                    at(151)
                )
                .await
                .unwrap()
        );
        // Expiry retires what is past its time, and nothing destroyed comes back.
        assert_eq!(
            store
                .expire_erots(at(500), |_| entry())
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.erot(E2).await.unwrap().unwrap().status,
            ErotStatus::Expired
        );
        assert_eq!(
            store.erot(E1).await.unwrap().unwrap().status,
            ErotStatus::Destroyed
        );
    })
    .await;
}

/// An attestation's one store call: its nonce used once across every concurrent caller
/// (batched together on PostgreSQL), and its host's state as last committed.
#[tokio::test]
async fn an_attestation_uses_its_nonce_once_and_reads_its_host_as_committed() {
    each_backend("attest-read", |store| async move {
        let enrolled = new_host(11, "S11");
        let key = enrolled.hk.clone();
        let host = match store
            .enroll_host(enrolled, None, u64::MAX, at(100), &entry())
            .await
            .unwrap()
        {
            Enrolled::Created(h) => h,
            other => panic!("{other:?}"),
        };
        let id = host.host_id.clone();
        assert_eq!(*store.hardware_key(&id).await.unwrap().unwrap(), key);
        let stranger = HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: vec![99; 32],
        }
        .host_id();
        assert!(store.hardware_key(&stranger).await.unwrap().is_none());

        // Racers on one nonce, and as many on nonces of their own, all at once.
        let shared = Nonce::random();
        let racers: Vec<_> = (0..64)
            .map(|i| {
                let (store, id) = (store.clone(), id.clone());
                let nonce = if i % 2 == 0 { shared } else { Nonce::random() };
                tokio::spawn(async move {
                    let (state, first) = store
                        .use_nonce_reading_host(&nonce, 1_000, &id)
                        .await
                        .unwrap()
                        .expect("the host is known");
                    assert_eq!(state.status, HostStatus::Pending);
                    (i % 2 == 0, first)
                })
            })
            .collect();
        let (mut shared_wins, mut own_wins) = (0, 0);
        for racer in racers {
            match racer.await.unwrap() {
                (true, first) => shared_wins += first as usize,
                (false, first) => own_wins += first as usize,
            }
        }
        assert_eq!((shared_wins, own_wins), (1, 32));
        // Used by an attestation, used for every other purpose too.
        assert!(!store.use_nonce(&shared, 1_000).await.unwrap());
        // An unknown host reads as none; its nonce is spent all the same.
        let spent = Nonce::random();
        assert!(
            store
                .use_nonce_reading_host(&spent, 1_000, &stranger)
                .await
                .unwrap()
                .is_none()
        );
        assert!(!store.use_nonce(&spent, 1_000).await.unwrap());

        // Every committed change is seen by the next read, fingerprint and report included.
        store
            .apply_host(
                &change(&id, HostStatus::Pending, HostStatus::Active),
                &entry(),
                at(200),
            )
            .await
            .unwrap();
        let read = |nonce: Nonce| {
            let (store, id) = (store.clone(), id.clone());
            async move {
                store
                    .use_nonce_reading_host(&nonce, 1_000, &id)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let (state, first) = read(Nonce::random()).await;
        assert!(first);
        assert_eq!(
            (state.status, &state.fingerprint),
            (HostStatus::Active, &host.fingerprint)
        );
        assert_eq!(
            store
                .registered_report(&id, &state.fingerprint)
                .await
                .unwrap(),
            host.report
        );
        let rotated = new_host(11, "S11-new").report;
        let window = change(&id, HostStatus::Active, HostStatus::Maintenance);
        store.apply_host(&window, &entry(), at(300)).await.unwrap();
        assert!(matches!(
            store
                .apply_host(&rotation(&id, &rotated), &entry(), at(300))
                .await
                .unwrap(),
            Transition::Done(_)
        ));
        let (state, _) = read(Nonce::random()).await;
        assert_eq!(state.fingerprint, rotated.fingerprint());
        assert_eq!(
            store
                .registered_report(&id, &state.fingerprint)
                .await
                .unwrap(),
            rotated
        );
        // The old report is still there for the history.
        assert_eq!(
            store
                .registered_report(&id, &host.fingerprint)
                .await
                .unwrap(),
            host.report
        );
    })
    .await;
}

/// A report is stored once however many hosts and history entries name it; databases made
/// before that keep every report they held (migration 0007).
#[tokio::test]
async fn each_report_is_stored_once_and_older_databases_keep_theirs() {
    use sqlx::{AnyPool, Row};
    let migrations = [
        include_str!("../migrations/0001_init.sql"),
        include_str!("../migrations/0002_boot.sql"),
        include_str!("../migrations/0003_erots.sql"),
        include_str!("../migrations/0004_tpm_activation.sql"),
        include_str!("../migrations/0005_used_nonces.sql"),
        include_str!("../migrations/0006_revocation.sql"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![Store::sqlite_url(&dir.path().join("old.db"))];
    urls.extend(testing::fresh_postgres("reports-migration").await);
    sqlx::any::install_default_drivers();
    for url in urls {
        let pool = AnyPool::connect(&url).await.unwrap();
        for sql in migrations {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        // Two hosts with one report (and a history entry each), one with another.
        for (host, fp, report) in [("a", "f1", "r1"), ("b", "f1", "r1"), ("c", "f2", "r2")] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "INSERT INTO hosts (host_id, name, hk_alg, hk_public, status, report, fingerprint, created_at, updated_at) \
                 VALUES ('{host}', '{host}', 'EdDSA', 'AA', 'active', '{report}', '{fp}', 1, 1); \
                 INSERT INTO host_fingerprints (host_id, fingerprint, report, reason, recorded_at) \
                 VALUES ('{host}', '{fp}', '{report}', 'enrolled', 1)"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::raw_sql(include_str!("../migrations/0007_reports.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let reports: Vec<(String, String)> =
            sqlx::query("SELECT fingerprint, report FROM reports ORDER BY fingerprint")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
        assert_eq!(
            reports,
            [("f1".into(), "r1".into()), ("f2".into(), "r2".into())],
            "{url}"
        );
        assert!(
            sqlx::query("SELECT report FROM hosts")
                .fetch_all(&pool)
                .await
                .is_err()
        );
        pool.close().await;
    }

    // And from now on: three hosts enrolled with one report store it once.
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![Store::sqlite_url(&dir.path().join("new.db"))];
    urls.extend(testing::fresh_postgres("reports-once").await);
    for url in urls {
        let store = Store::connect(&url).await.unwrap();
        for seed in 20..23 {
            store
                .enroll_host(new_host(seed, "same"), None, u64::MAX, at(100), &entry())
                .await
                .unwrap();
        }
        let pool = AnyPool::connect(&url).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1, "{url}");
    }
}

/// A log signer over a fresh Ed25519 key.
fn log_signer() -> cairn_log::LogSigner {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pair = Ed25519KeyPair::generate().unwrap();
    let public: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
    cairn_log::LogSigner::new(&public, move |m| Ok(pair.sign(m).as_ref().to_vec()))
}

fn log_entry(i: usize, owner: Option<&str>) -> cairn_store::NewEntry {
    cairn_store::NewEntry {
        kind: if i.is_multiple_of(2) {
            "erot.generated".into()
        } else {
            "pat.issued".into()
        },
        // Made in the order of `i`.
        at: i as i64,
        subject: format!("s{i}"),
        owner: owner.map(str::to_string),
        bytes: format!("{{\"n\":{i}}}").into_bytes(),
    }
}

async fn raw(url: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_log_grows_in_order_and_proves_every_entry_and_every_prefix() {
    use cairn_log::tree::{ProofRequest, verify_consistency, verify_inclusion};
    each_backend("log", |store| async move {
        let signer = log_signer();
        let empty = store.open_log(&signer).await.unwrap();
        assert_eq!(empty.size, 0);
        // Opening again keeps the same (empty) checkpoint.
        assert_eq!(store.open_log(&signer).await.unwrap().size, 0);
        let mut checkpoints = vec![empty];
        let mut total = 0;
        for batch in [1usize, 4, 250, 3, 50] {
            let entries: Vec<_> = (total..total + batch)
                .map(|i| log_entry(i, i.is_multiple_of(3).then_some("owner-a")))
                .collect();
            let (first, checkpoint) = store.append_log(&entries, &signer, None).await.unwrap();
            assert_eq!(first, total as u64);
            total += batch;
            assert_eq!(checkpoint.size, total as u64);
            assert_eq!(signer.key().open(&checkpoint.note).unwrap(), checkpoint);
            checkpoints.push(checkpoint);
        }
        let (size, note) = store.log_checkpoint().await.unwrap().unwrap();
        assert_eq!(
            (size, note.into_bytes()),
            (308, checkpoints[5].note.clone())
        );
        let entries = store.log_entries(0, 308).await.unwrap();
        assert_eq!(entries.len(), 308);
        assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.index == i as u64
                    && e.bytes == format!("{{\"n\":{i}}}").into_bytes())
        );
        // Inclusion of entries in every checkpointed tree, from stored hashes only.
        for checkpoint in &checkpoints[1..] {
            for index in (0..checkpoint.size).step_by(7) {
                let request = ProofRequest::Inclusion {
                    index,
                    size: checkpoint.size,
                };
                let hashes = store.log_hashes(&request.indexes()).await.unwrap();
                let proof = request.prove(&hashes).unwrap();
                let entry = &entries[index as usize].bytes;
                verify_inclusion(&proof, checkpoint.size, checkpoint.root, index, entry).unwrap();
            }
        }
        // Each checkpoint is consistent with every later one.
        for (i, old) in checkpoints.iter().enumerate().skip(1) {
            for new in &checkpoints[i..] {
                let request = ProofRequest::Consistency {
                    old: old.size,
                    new: new.size,
                };
                let proof = match old.size == new.size {
                    true => vec![],
                    false => {
                        let hashes = store.log_hashes(&request.indexes()).await.unwrap();
                        request.prove(&hashes).unwrap()
                    }
                };
                verify_consistency(&proof, old.size, old.root, new.size, new.root).unwrap();
            }
        }
        assert_eq!(store.erot_generated_index("s42").await.unwrap(), Some(42));
        // s43's entry is a PAT's.
        assert_eq!(store.erot_generated_index("s43").await.unwrap(), None);
        // A customer's view holds its own entries only, after the index it asks from.
        let own = store.log_events(Some(3), Some("owner-a"), 5).await.unwrap();
        assert_eq!(
            own.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![6, 9, 12, 15, 18]
        );
        let all = store.log_events(None, None, 1000).await.unwrap();
        assert_eq!(all.len(), 308);
        assert!(
            store
                .log_events(Some(u64::MAX), None, 5)
                .await
                .unwrap()
                .is_empty()
        );
        // A reopened log checks every entry again, and carries on from where it was.
        assert_eq!(store.open_log(&signer).await.unwrap(), checkpoints[5]);
        let (first, _) = store
            .append_log(&[log_entry(308, None)], &signer, None)
            .await
            .unwrap();
        assert_eq!(first, 308);
        // An append marks, in its transaction, how far it takes a server's queue; a queue
        // never sequenced from starts at 0, and a forgotten one is gone.
        assert_eq!(store.log_queue_sequenced("q1").await.unwrap(), 0);
        for upto in [7u64, 9] {
            let mark = cairn_store::QueueMark { queue: "q1", upto };
            store
                .append_log(&[log_entry(upto as usize, None)], &signer, Some(mark))
                .await
                .unwrap();
        }
        assert_eq!(store.log_queue_sequenced("q1").await.unwrap(), 9);
        assert_eq!(store.log_queue_sequenced("q2").await.unwrap(), 0);
        store.forget_log_queue("q1").await.unwrap();
        assert_eq!(store.log_queue_sequenced("q1").await.unwrap(), 0);
        // Another key's checkpoints are not this log's.
        assert!(matches!(
            store
                .append_log(&[log_entry(0, None)], &log_signer(), None)
                .await,
            Err(cairn_store::StoreError::LogInconsistent(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_rewritten_log_row_is_caught_and_nothing_more_is_signed() {
    each_backend_at("log-rewrite", |store, url| async move {
        let signer = log_signer();
        store.open_log(&signer).await.unwrap();
        let entries: Vec<_> = (0..10).map(|i| log_entry(i, None)).collect();
        store.append_log(&entries, &signer, None).await.unwrap();
        let inconsistent = |r: Result<_, cairn_store::StoreError>| {
            matches!(r, Err(cairn_store::StoreError::LogInconsistent(_)))
        };
        // An entry rewritten in place: the start-up check rehashes it.
        raw(&url, "UPDATE log_entries SET entry = '{\"n\":99}' WHERE idx = 3").await;
        assert!(inconsistent(store.open_log(&signer).await.map(drop)));
        raw(&url, "UPDATE log_entries SET entry = '{\"n\":3}' WHERE idx = 3").await;
        store.open_log(&signer).await.unwrap();
        // A stored hash on the tree's right edge rewritten: the next append refuses to sign.
        let edge = cairn_log::Frontier::indexes(10)[0];
        raw(&url, &format!("UPDATE log_hashes SET hash = (SELECT hash FROM log_hashes WHERE idx = 0) WHERE idx = {edge}")).await;
        assert!(inconsistent(store.append_log(&[log_entry(10, None)], &signer, None).await.map(drop)));
        assert_eq!(store.log_checkpoint().await.unwrap().unwrap().0, 10);
        assert!(inconsistent(store.open_log(&signer).await.map(drop)));
        // Entries removed from the end (a rollback under a kept checkpoint).
        raw(&url, "DELETE FROM log_entries WHERE idx >= 8").await;
        assert!(inconsistent(store.open_log(&signer).await.map(drop)));
    })
    .await;
}

#[tokio::test]
async fn replicas_appending_at_once_each_get_their_own_indexes() {
    let Some(url) = testing::fresh_postgres("log-replicas").await else {
        return;
    };
    let signer = std::sync::Arc::new(log_signer());
    let first = Store::connect(&url).await.unwrap();
    first.open_log(&signer).await.unwrap();
    let replicas = [first, Store::connect(&url).await.unwrap()];
    let mut tasks = vec![];
    for (r, store) in replicas.iter().enumerate() {
        for t in 0..8 {
            let (store, signer) = (store.clone(), signer.clone());
            tasks.push(tokio::spawn(async move {
                let entries: Vec<_> = (0..5)
                    .map(|i| log_entry(100 * r + 10 * t + i, None))
                    .collect();
                store.append_log(&entries, &signer, None).await.unwrap().0
            }));
        }
    }
    let mut firsts = vec![];
    for task in tasks {
        firsts.push(task.await.unwrap());
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..16).map(|i| 5 * i).collect::<Vec<u64>>());
    assert_eq!(replicas[1].open_log(&signer).await.unwrap().size, 80);
}

/// Invariant 13 in the store: a change writes its log entry in its own transaction, so the
/// two commit together or not at all, and an append takes what waits in the outbox, in order,
/// once.
#[tokio::test]
async fn a_change_and_its_log_entry_commit_together_and_are_appended_once() {
    each_backend("outbox", |store| async move {
        let signer = log_signer();
        store.open_log(&signer).await.unwrap();
        assert!(!store.outbox_waiting().await.unwrap());
        // Nothing to append: nothing is signed.
        let idle = store.sequence_log(&[], &signer, None, 10).await.unwrap();
        assert_eq!((idle.checkpoint.size, idle.outboxed), (0, 0));
        let Enrolled::Created(host) = store
            .enroll_host(
                new_host(50, "S50"),
                None,
                u64::MAX,
                at(100),
                &log_entry(0, None),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        assert!(store.outbox_waiting().await.unwrap());
        // Changes that do not happen write nothing: a lost race, an unknown token or
        // instance, a second enrollment of the same key.
        let stale = change(&host.host_id, HostStatus::Active, HostStatus::Revoked);
        assert!(matches!(
            store
                .apply_host(&stale, &log_entry(99, None), at(101))
                .await
                .unwrap(),
            Transition::Conflict(HostStatus::Pending)
        ));
        assert!(
            store
                .revoke_token("t_0000000000000000", at(101), &log_entry(99, None))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            !store
                .revoke_instance("i-none", at(101), &log_entry(99, None))
                .await
                .unwrap()
        );
        assert!(matches!(
            store
                .enroll_host(
                    new_host(50, "S50"),
                    None,
                    u64::MAX,
                    at(102),
                    &log_entry(99, None)
                )
                .await
                .unwrap(),
            Enrolled::Existing(_)
        ));
        let approve = change(&host.host_id, HostStatus::Pending, HostStatus::Active);
        store
            .apply_host(&approve, &log_entry(1, None), at(103))
            .await
            .unwrap();
        store
            .insert_token(
                "outboxed",
                TokenRole::Customer,
                None,
                at(104),
                &log_entry(2, Some("c")),
            )
            .await
            .unwrap();
        // A queue's entries join the outbox's in the same append, in the order they were made,
        // which takes at most what it is allowed of the outbox and leaves the rest for the
        // next.
        let first = store
            .sequence_log(&[log_entry(10, None)], &signer, None, 2)
            .await
            .unwrap();
        assert_eq!(
            (first.first, first.outboxed, first.checkpoint.size),
            (0, 2, 3)
        );
        let second = store.sequence_log(&[], &signer, None, 10).await.unwrap();
        assert_eq!(
            (second.first, second.outboxed, second.checkpoint.size),
            (3, 1, 4)
        );
        assert!(!store.outbox_waiting().await.unwrap());
        let logged: Vec<Vec<u8>> = store
            .log_entries(0, 4)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.bytes)
            .collect();
        let expected: Vec<Vec<u8>> = [0, 1, 10, 2]
            .into_iter()
            .map(|i| log_entry(i, None).bytes)
            .collect();
        assert_eq!(logged, expected);
        // The owner went with its entry: a customer reads it.
        let owned = store.log_events(None, Some("c"), 10).await.unwrap();
        assert_eq!(owned.len(), 1);
        assert_eq!(owned[0].index, 3);
        // An entry of a type this version does not know (a newer replica's) goes in too.
        let mut newer = log_entry(20, None);
        newer.kind = "host.newfangled".into();
        store
            .insert_token("newer", TokenRole::Join, None, at(105), &newer)
            .await
            .unwrap();
        let appended = store.sequence_log(&[], &signer, None, 10).await.unwrap();
        assert_eq!((appended.outboxed, appended.checkpoint.size), (1, 5));
    })
    .await;
}
