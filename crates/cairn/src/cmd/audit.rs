//! `cairn audit verify`: a receipt checked offline against the DERG's published keys, and
//! against the container it names.

use cairn_token::{Jwks, ReceiptClaims, Verifier};

use crate::cli::AuditCmd;
use crate::exit::{FAILURE, Failure, Result};

pub async fn run(cmd: AuditCmd) -> Result {
    let AuditCmd::Verify {
        receipt,
        ewc,
        jwks,
        remote,
        json,
    } = cmd;
    let token = std::fs::read_to_string(&receipt)
        .map_err(|e| Failure::usage(format!("receipt {}: {e}", receipt.display())))?;
    let jwks: Jwks = match jwks {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
        }
        None => remote.client()?.jwks().await?,
    };
    let verifier =
        Verifier::for_receipts(&jwks, None).map_err(|e| Failure::usage(e.to_string()))?;
    let claims: ReceiptClaims = verifier
        .verify(token.trim())
        .map_err(|e| Failure::new(FAILURE, format!("receipt rejected: {e}")))?;
    if let Some(path) = &ewc {
        let digest = super::workload::file_digest(path)?;
        if digest != claims.ewc_digest {
            return Err(Failure::new(
                FAILURE,
                format!(
                    "{} is not the container this receipt names (digest {digest}, receipt {})",
                    path.display(),
                    claims.ewc_digest
                ),
            ));
        }
    }
    if json {
        super::print_json(&claims);
    } else {
        let name = claims.workload.get("name").and_then(|n| n.as_str());
        println!(
            "receipt valid: ERoT {} for workload {:?} on host {}",
            claims.sub,
            name.unwrap_or("(unnamed)"),
            claims.host_id
        );
        println!("  workload_digest {}", claims.workload_digest);
        println!(
            "  ewc_digest      {}{}",
            claims.ewc_digest,
            if ewc.is_some() {
                " (matches the file)"
            } else {
                ""
            }
        );
        println!("  issued by       {}", claims.iss);
    }
    Ok(())
}
