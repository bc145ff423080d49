//! Flow 3 end to end through the real CLI and the real tools: a host enrolls, the control
//! plane places an instance, an admin creates encrypted images, and `cairn agent boot`
//! unlocks them; each refusal exits with its own code.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// Enrolls the baremetal fixture with a soft key under `dir`; returns (hk spec, host id).
fn enroll(server: &TestServer, dir: &Path, join: bool) -> (String, String) {
    let hk = format!("soft:{}", dir.join("hk.key").display());
    let root = fixture("baremetal");
    let mut args = vec![
        "agent",
        "enroll",
        "--json",
        "--hk",
        &hk,
        "--root",
        root.to_str().unwrap(),
    ];
    let token;
    if join {
        token = ok(&server.cli(&["admin", "tokens", "create"]))
            .trim()
            .to_string();
        args.extend(["--join-token", &token]);
    }
    let out: serde_json::Value = serde_json::from_str(&ok(&server.cli(&args))).unwrap();
    (hk, out["host_id"].as_str().unwrap().to_string())
}

fn instance(server: &TestServer, dir: &Path, name: &str, host: &str, volumes: &[&str]) -> String {
    let path = dir.join(format!("{name}.token"));
    let mut args = vec![
        "admin",
        "instances",
        "create",
        "--instance-id",
        name,
        "--host-id",
        host,
        "--out",
        path.to_str().unwrap(),
    ];
    for v in volumes {
        args.extend(["--volume", v]);
    }
    ok(&server.cli(&args));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    path.to_str().unwrap().to_string()
}

fn boot(server: &TestServer, hk: &str, volume: &str, token: &str, backend: &[&str]) -> Output {
    let root = fixture("baremetal");
    let mut args = vec![
        "agent",
        "boot",
        "--hk",
        hk,
        "--root",
        root.to_str().unwrap(),
        "--volume",
        volume,
        "--token-file",
        token,
        "--backend",
    ];
    args.extend(backend);
    server.cli(&args)
}

/// What a passphrase file must contain for qemu and cryptsetup: we check that the key the
/// boot client got opens the image, and that a different one does not.
fn qemu_io_roundtrip(image: &Path, passphrase_file: &Path) -> bool {
    let secret = format!("secret,id=k,file={},format=raw", passphrase_file.display());
    let opts = format!(
        "driver=qcow2,file.filename={},encrypt.key-secret=k",
        image.display()
    );
    Command::new("qemu-io")
        .args([
            "--object",
            &secret,
            "--image-opts",
            &opts,
            "-c",
            "write -P 0x5a 0 64k",
            "-c",
            "read -P 0x5a 0 64k",
        ])
        .output()
        .map(|o| {
            o.status.success()
                && !String::from_utf8_lossy(&o.stdout).contains("Pattern verification failed")
        })
        .unwrap_or(false)
}

/// Exports the decrypted disk through `qemu-storage-daemon` over FUSE, as a host would hand
/// it to a loop mount, and reads its first 64 KiB; `None` where FUSE is unavailable.
fn fuse_export_first_64k(image: &Path, passphrase_file: &Path) -> Option<Vec<u8>> {
    if !Path::new("/dev/fuse").exists() || !have("qemu-storage-daemon") {
        eprintln!("SKIPPED: FUSE export (no /dev/fuse or qemu-storage-daemon)");
        return None;
    }
    let export = image.with_extension("export");
    std::fs::write(&export, b"").unwrap();
    let mut daemon = Command::new("qemu-storage-daemon")
        .args([
            "--object",
            &format!("secret,id=k,file={},format=raw", passphrase_file.display()),
            "--blockdev",
            &format!("driver=file,node-name=f,filename={}", image.display()),
            "--blockdev",
            "driver=qcow2,node-name=d,file=f,encrypt.format=luks,encrypt.key-secret=k",
            "--export",
            &format!(
                "type=fuse,id=e,node-name=d,mountpoint={},writable=off",
                export.display()
            ),
        ])
        .spawn()
        .unwrap();
    // The export replaces the empty file once the daemon is up.
    let mut data = Vec::new();
    for _ in 0..50 {
        if std::fs::metadata(&export)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        {
            data = std::fs::read(&export).unwrap_or_default();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    data.truncate(64 * 1024);
    Some(data)
}

#[test]
fn boot_unlocks_luks_qcow2_and_keyfile_volumes() {
    let server = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let (hk, host) = enroll(&server, dir.path(), true);

    // keyfile: the raw 256-bit key, handed over in a 0600 file.
    ok(&server.cli(&["admin", "volumes", "create", "--id", "vol-key"]));
    let token = instance(&server, dir.path(), "i-key", &host, &["vol-key"]);
    let key_out = dir.path().join("vol-key.bin");
    ok(&boot(
        &server,
        &hk,
        "vol-key",
        &token,
        &["keyfile", "--key-out", key_out.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&key_out).unwrap().len(), 32);
    assert_eq!(
        std::fs::metadata(&key_out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    if have("qemu-img") {
        let image = dir.path().join("disk.qcow2");
        ok(&server.cli(&[
            "admin",
            "volumes",
            "create",
            "--id",
            "vol-q",
            "--format",
            "qcow2",
            "--size",
            "16M",
            "--out",
            image.to_str().unwrap(),
        ]));
        let token = instance(&server, dir.path(), "i-q", &host, &["vol-q"]);
        let pass = dir.path().join("vol-q.pass");
        let out = boot(
            &server,
            &hk,
            "vol-q",
            &token,
            &[
                "qemu",
                "--image",
                image.to_str().unwrap(),
                "--key-out",
                pass.to_str().unwrap(),
            ],
        );
        ok(&out);
        assert!(String::from_utf8_lossy(&out.stderr).contains("opens with the key"));
        assert!(
            qemu_io_roundtrip(&image, &pass),
            "the released key must open the qcow2 image"
        );
        if let Some(plain) = fuse_export_first_64k(&image, &pass) {
            assert!(
                plain == vec![0x5a; 64 * 1024],
                "the decrypted disk must read back what was written"
            );
        }
        let wrong = dir.path().join("wrong.pass");
        std::fs::write(
            &wrong,
            cairn_proto::b64::encode(cairn_proto::random_bytes::<32>()),
        )
        .unwrap();
        assert!(
            !qemu_io_roundtrip(&image, &wrong),
            "another key must not open it"
        );
    }

    if have("cryptsetup") {
        let image = dir.path().join("disk.luks");
        ok(&server.cli(&[
            "admin",
            "volumes",
            "create",
            "--id",
            "vol-luks",
            "--format",
            "luks",
            "--size",
            "32M",
            "--out",
            image.to_str().unwrap(),
        ]));
        let token = instance(&server, dir.path(), "i-luks", &host, &["vol-luks"]);
        let out = boot(
            &server,
            &hk,
            "vol-luks",
            &token,
            &["luks", "--device", image.to_str().unwrap(), "--verify-only"],
        );
        ok(&out);
        assert!(String::from_utf8_lossy(&out.stderr).contains("verified only"));
        // A wrong key: this volume's image with another volume's key exits 12.
        let other = instance(&server, dir.path(), "i-key2", &host, &["vol-key"]);
        let out = boot(
            &server,
            &hk,
            "vol-key",
            &other,
            &["luks", "--device", image.to_str().unwrap(), "--verify-only"],
        );
        assert_eq!(code(&out), 12, "{}", String::from_utf8_lossy(&out.stderr));
    }

    let listed = ok(&server.cli(&["admin", "volumes", "list"]));
    assert!(listed.contains("vol-key"));
}

/// Another local user plants a link (or a file of theirs) where the key will be written:
/// the boot refuses (exit 12) and neither the link's target nor the file gets the key.
#[test]
fn key_out_never_follows_a_link_nor_replaces_a_file() {
    let server = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    ok(&server.cli(&["admin", "volumes", "create", "--id", "vol-a"]));
    let (hk, host) = enroll(&server, dir.path(), true);
    let token = instance(&server, dir.path(), "i-1", &host, &["vol-a"]);
    let target = dir.path().join("attacker-reads-this");
    std::fs::write(&target, b"mine").unwrap();
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling.key");
    std::os::unix::fs::symlink(dir.path().join("not-yet"), &dangling).unwrap();
    for planted in [&link, &dangling, &target] {
        let out = boot(
            &server,
            &hk,
            "vol-a",
            &token,
            &["keyfile", "--key-out", planted.to_str().unwrap()],
        );
        assert_eq!(code(&out), 12, "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"mine");
    assert!(!dir.path().join("not-yet").exists());
    let fresh = dir.path().join("fresh.key");
    ok(&boot(
        &server,
        &hk,
        "vol-a",
        &token,
        &["keyfile", "--key-out", fresh.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&fresh).unwrap().len(), 32);
}

#[test]
fn boot_exit_codes_name_where_it_stopped() {
    let server = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    ok(&server.cli(&["admin", "volumes", "create", "--id", "vol-a"]));
    ok(&server.cli(&["admin", "volumes", "create", "--id", "vol-b"]));
    let key_out = dir.path().join("key.bin");
    let keyfile = ["keyfile", "--key-out", key_out.to_str().unwrap()];

    // 10: the host is still pending, so attestation is refused.
    let pending_dir = dir.path().join("pending");
    std::fs::create_dir(&pending_dir).unwrap();
    let (pending_hk, pending_host) = enroll(&server, &pending_dir, false);
    let token = instance(&server, dir.path(), "i-pending", &pending_host, &["vol-a"]);
    let out = boot(&server, &pending_hk, "vol-a", &token, &keyfile);
    assert_eq!(code(&out), 10, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host-pending"));

    // 11: the token grants vol-a, the boot asks for vol-b.
    let (hk, host) = enroll(&server, dir.path(), true);
    let token = instance(&server, dir.path(), "i-1", &host, &["vol-a"]);
    let out = boot(&server, &hk, "vol-b", &token, &keyfile);
    assert_eq!(code(&out), 11, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("volume-not-authorized"));
    assert!(!key_out.exists());

    // 12: the key is released but the unlock target cannot take it.
    let out = boot(
        &server,
        &hk,
        "vol-a",
        &token,
        &["keyfile", "--key-out", "/nonexistent/dir/key"],
    );
    assert_eq!(code(&out), 12, "{}", String::from_utf8_lossy(&out.stderr));

    // 2: configuration errors, before anything is sent.
    let out = boot(&server, &hk, "vol-a", "/nonexistent/token", &keyfile);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    let out = boot(&server, &hk, "vol-a", &token, &["keyfile"]);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));

    // 3: nobody listens, after bounded retries.
    let root = fixture("baremetal");
    let out = Command::new(CAIRN)
        .args([
            "agent",
            "boot",
            "--server",
            "http://127.0.0.1:9",
            "--attempts",
            "2",
            "--hk",
            &hk,
            "--root",
            root.to_str().unwrap(),
            "--volume",
            "vol-a",
            "--token-file",
            &token,
            "--backend",
        ])
        .args(keyfile)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));

    // 0, for contrast.
    ok(&boot(&server, &hk, "vol-a", &token, &keyfile));
    assert_eq!(std::fs::read(&key_out).unwrap().len(), 32);
}
