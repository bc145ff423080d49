//! The transparency log's read API: C2SP `tlog-tiles` under `/v1/log/` (the signed
//! checkpoint, hash tiles, entry bundles), the log's verifier key, and inclusion and
//! consistency proofs for clients that would rather not walk tiles. Everything served is
//! covered by the last signed checkpoint.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use cairn_log::tiles::{TileRef, bundle};
use cairn_log::tree::ProofRequest;
use cairn_log::{Hash, TlogProof};
use cairn_proto::Refusal;
use cairn_proto::api::LogProof;
use serde::Deserialize;

use crate::AppState;
use crate::openapi::refusals;
use crate::problem::{ApiError, Params, WithDetail};

const TEXT: &str = "text/plain; charset=utf-8";

/// The size and note of the last signed checkpoint.
async fn head(state: &AppState) -> Result<(u64, String), ApiError> {
    state.log.caught_up().await;
    state
        .store
        .log_checkpoint()
        .await?
        .ok_or_else(|| ApiError::not_found("The log has no checkpoint yet"))
}

refusals!(CheckpointRefusals: STORE; NotFound);

/// The log's latest checkpoint (C2SP `tlog-checkpoint`), signed with the log key.
#[utoipa::path(get, path = "/v1/log/checkpoint", tag = "log", operation_id = "logCheckpoint",
    responses((status = 200, description = "The signed checkpoint (a C2SP signed note)", body = String, content_type = "text/plain"), CheckpointRefusals))]
pub async fn checkpoint(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (_, note) = head(&state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, TEXT),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    ))
}

/// The log's verifier key (C2SP signed-note `NAME+KEYID+BASE64`); its name is the log's
/// origin.
#[utoipa::path(get, path = "/v1/log/key", tag = "log", operation_id = "logKey",
    responses((status = 200, description = "The log's verifier key", body = String, content_type = "text/plain")))]
pub async fn key(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", state.log.signer().key().verifier_key()),
    )
}

refusals!(TileRefusals: STORE; NotFound);

/// A tile of the log (C2SP `tlog-tiles`): `tile/<L>/<N>[.p/<W>]` (hashes, 32 bytes each) or
/// `tile/entries/<N>[.p/<W>]` (an entry bundle: each entry a big-endian 16-bit length and its
/// bytes). Full tiles never change.
#[utoipa::path(get, path = "/v1/log/tile/{path}", tag = "log", operation_id = "logTile",
    params(("path" = String, Path, description = "The tile's path after `tile/`, e.g. `0/x001/234.p/7` or `entries/000`")),
    responses((status = 200, description = "The tile", body = Vec<u8>, content_type = "application/octet-stream"), TileRefusals))]
pub async fn tile(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tile = TileRef::parse(&format!("tile/{path}"))
        .map_err(|e| ApiError::not_found("No such tile").detail(e.to_string()))?;
    let (size, _) = head(&state).await?;
    if !tile.within(size) {
        return Err(ApiError::not_found(&format!(
            "The log's {size} entries do not fill this tile"
        )));
    }
    let indexes = tile.indexes();
    let body = match tile {
        TileRef::Hashes { .. } => {
            let hashes = state.store.log_hashes(&indexes).await?;
            let mut body = Vec::with_capacity(32 * indexes.len());
            for i in &indexes {
                let hash = hashes.0.get(i).ok_or_else(|| {
                    ApiError::from(cairn_store::StoreError::LogInconsistent(format!(
                        "stored hash {i} is missing"
                    )))
                })?;
                body.extend_from_slice(&hash.0);
            }
            body
        }
        TileRef::Entries { .. } => {
            let (first, last) = (indexes[0], indexes[indexes.len() - 1]);
            let entries = state.store.log_entries(first, last + 1).await?;
            if entries.len() != indexes.len() {
                return Err(cairn_store::StoreError::LogInconsistent(format!(
                    "entries {first}..={last} are not all stored"
                ))
                .into());
            }
            bundle(entries.iter().map(|e| e.bytes.as_slice()))
        }
    };
    let cache = match matches!(
        tile,
        TileRef::Hashes { width: 256, .. } | TileRef::Entries { width: 256, .. }
    ) {
        true => "public, max-age=31536000, immutable",
        false => "no-cache",
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    ))
}

/// `GET /v1/log/proof/inclusion`'s query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The entry's index.
    index: u64,
    /// The size of the tree to prove it in (more than `index`); the latest checkpoint's by
    /// default.
    #[param(minimum = 1)]
    size: Option<u64>,
}

/// `GET /v1/log/proof/consistency`'s query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The size of the older tree.
    #[param(minimum = 1)]
    old: u64,
    /// The size of the newer tree (at least `old`); the latest checkpoint's by default.
    #[param(minimum = 1)]
    new: Option<u64>,
}

async fn prove(state: &AppState, request: ProofRequest) -> Result<Vec<Hash>, ApiError> {
    let hashes = state.store.log_hashes(&request.indexes()).await?;
    request
        .prove(&hashes)
        .map_err(|e| cairn_store::StoreError::LogInconsistent(e.to_string()).into())
}

fn base64(hashes: Vec<Hash>) -> Vec<String> {
    hashes.iter().map(ToString::to_string).collect()
}

/// A `tlog-proof@v1` that the `erot.generated` entry of `erot_id` is in the tree of the
/// latest checkpoint, the entry itself in its `extra` line; `None` if there is no such entry.
pub(crate) async fn tlog_proof(
    state: &AppState,
    erot_id: &str,
) -> Result<Option<TlogProof>, ApiError> {
    // The ERoT's generation may still be queued, here or (made on another replica) there,
    // whose writer sequences it within its linger: a receipt needs it in the tree. Only an
    // ERoT made before the log existed has no entry at all.
    state.log.flush().await?;
    let mut index = state.store.erot_generated_index(erot_id).await?;
    for _ in 0..8 {
        if index.is_some() {
            break;
        }
        tokio::time::sleep(crate::log::LINGER / 4).await;
        index = state.store.erot_generated_index(erot_id).await?;
    }
    let Some(index) = index else {
        return Ok(None);
    };
    // An entry is committed with the checkpoint that covers it, so this one does.
    let (size, note) = head(state).await?;
    let path = prove(state, ProofRequest::Inclusion { index, size }).await?;
    let entry = state
        .store
        .log_entries(index, index + 1)
        .await?
        .pop()
        .ok_or_else(|| {
            ApiError::from(cairn_store::StoreError::LogInconsistent(format!(
                "entry {index} is missing"
            )))
        })?;
    Ok(Some(TlogProof {
        extra: Some(entry.bytes),
        index,
        path,
        checkpoint: note.into_bytes(),
    }))
}

refusals!(ProofRefusals: STORE; NotFound, MalformedRequest, ProofOutOfRange, LogInconsistent);

/// That entry `index` is in the tree of `size` entries.
#[utoipa::path(get, path = "/v1/log/proof/inclusion", tag = "log", operation_id = "logInclusionProof",
    params(InclusionQuery),
    responses((status = 200, description = "The inclusion proof", body = LogProof), ProofRefusals))]
pub async fn inclusion(
    State(state): State<AppState>,
    Params(query): Params<InclusionQuery>,
) -> Result<Json<LogProof>, ApiError> {
    let (latest, note) = head(&state).await?;
    let size = query.size.unwrap_or(latest);
    let request = ProofRequest::Inclusion {
        index: query.index,
        size,
    };
    request
        .check(latest)
        .map_err(|e| Refusal::ProofOutOfRange.with(e.to_string()))?;
    Ok(Json(LogProof {
        index: Some(query.index),
        old_size: None,
        tree_size: size,
        hashes: base64(prove(&state, request).await?),
        checkpoint: (size == latest).then_some(note),
    }))
}

/// That the tree of `old` entries is a prefix of the tree of `new` entries.
#[utoipa::path(get, path = "/v1/log/proof/consistency", tag = "log", operation_id = "logConsistencyProof",
    params(ConsistencyQuery),
    responses((status = 200, description = "The consistency proof", body = LogProof), ProofRefusals))]
pub async fn consistency(
    State(state): State<AppState>,
    Params(query): Params<ConsistencyQuery>,
) -> Result<Json<LogProof>, ApiError> {
    let (latest, note) = head(&state).await?;
    let new = query.new.unwrap_or(latest);
    let request = ProofRequest::Consistency {
        old: query.old,
        new,
    };
    request
        .check(latest)
        .map_err(|e| Refusal::ProofOutOfRange.with(e.to_string()))?;
    let hashes = match query.old == new {
        true => vec![],
        false => base64(prove(&state, request).await?),
    };
    Ok(Json(LogProof {
        index: None,
        old_size: Some(query.old),
        tree_size: new,
        hashes,
        checkpoint: (new == latest).then_some(note),
    }))
}
