//! The system calls a sandboxed workload may make: every call of this architecture's table up
//! to the last one reviewed here, except those that reach past the sandbox (mounts and
//! namespaces, kernel modules and kexec, the kernel keyring, BPF and perf, io_uring,
//! userfaultfd, ptrace and cross-process memory, file handles, the clocks, swap, reboot), and
//! sockets only of the families a network namespace confines (vsock, for one, reaches the
//! hypervisor whatever the namespace). Anything else, newer calls and the x32 ABI's numbers
//! among them, fails with `ENOSYS`, as on a kernel without it, so C libraries fall back as
//! they would there; a call of another architecture's ABI (i386 on x86_64) kills the process.
//! Built with `seccompiler` and handed to bubblewrap as a compiled BPF program.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The last system call number reviewed for the list below (`mseal`, Linux 6.10, on both
/// x86_64 and aarch64).
const LAST_REVIEWED: i64 = libc::SYS_mseal;

/// The numbers reviewed: the whole table, but for x86_64's gap between its own calls (up to
/// 334) and the numbers shared by all architectures (from 424), where Linux 6.11 put
/// `uretprobe` and `uprobe`.
fn reviewed() -> impl Iterator<Item = i64> {
    #[cfg(target_arch = "x86_64")]
    return (0..=334).chain(424..=LAST_REVIEWED);
    #[cfg(not(target_arch = "x86_64"))]
    return 0..=LAST_REVIEWED;
}

/// Socket families a network namespace confines.
const SOCKET_FAMILIES: [i32; 4] = [
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_NETLINK,
];

/// Rules for the calls allowed only for some arguments: `socket` for the families above,
/// `socketpair` for local ones.
fn conditional() -> Result<Vec<(i64, Vec<SeccompRule>)>, String> {
    let family_is = |families: &[i32]| -> Result<Vec<SeccompRule>, String> {
        families
            .iter()
            .map(|family| {
                let condition = SeccompCondition::new(
                    0,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::Eq,
                    *family as u64,
                )
                .map_err(|e| e.to_string())?;
                SeccompRule::new(vec![condition]).map_err(|e| e.to_string())
            })
            .collect()
    };
    Ok(vec![
        (libc::SYS_socket, family_is(&SOCKET_FAMILIES)?),
        (libc::SYS_socketpair, family_is(&[libc::AF_UNIX])?),
    ])
}

/// Calls refused even though their number is in range.
fn denied() -> Vec<i64> {
    let mut denied = vec![
        // Mounts, namespaces and the root.
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        // The kernel itself.
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_syslog,
        libc::SYS_vhangup,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        // Large attack surfaces an ordinary program does without.
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_fanotify_init,
        // Other processes and files by handle.
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kcmp,
        libc::SYS_pidfd_getfd,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
    ];
    #[cfg(target_arch = "x86_64")]
    denied.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_modify_ldt,
        libc::SYS_uselib,
        libc::SYS_lookup_dcookie,
        libc::SYS_nfsservctl,
    ]);
    denied
}

/// The filter as the kernel loads it.
pub fn program() -> Result<BpfProgram, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp filter for {}: {e}", std::env::consts::ARCH))?;
    let denied = denied();
    let mut allowed: BTreeMap<i64, Vec<_>> = reviewed()
        .filter(|nr| !denied.contains(nr))
        .map(|nr| (nr, vec![]))
        .collect();
    allowed.extend(conditional()?);
    let filter = SeccompFilter::new(
        allowed,
        SeccompAction::Errno(libc::ENOSYS as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

/// The program as bytes, in the layout of `struct sock_filter` that `bwrap --seccomp` reads.
pub fn program_bytes() -> Result<Vec<u8>, String> {
    Ok(program()?
        .iter()
        .flat_map(|i| {
            let mut bytes = [0u8; 8];
            bytes[..2].copy_from_slice(&i.code.to_ne_bytes());
            bytes[2] = i.jt;
            bytes[3] = i.jf;
            bytes[4..].copy_from_slice(&i.k.to_ne_bytes());
            bytes
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_within_the_kernel_limit() {
        let program = program().unwrap();
        assert!(program.len() < 4096, "{} instructions", program.len());
        assert_eq!(program_bytes().unwrap().len(), program.len() * 8);
    }

    #[test]
    fn ordinary_calls_stay_allowed() {
        let denied = denied();
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_exit_group,
            libc::SYS_mmap,
            libc::SYS_futex,
        ] {
            assert!(!denied.contains(&nr) && reviewed().any(|r| r == nr), "{nr}");
        }
    }

    #[test]
    fn the_x86_64_gap_is_not_allowed() {
        #[cfg(target_arch = "x86_64")]
        assert!(!reviewed().any(|nr| nr == 335 || nr == 336 || nr == 423));
    }
}
