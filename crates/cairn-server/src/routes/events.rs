//! `GET /v1/events`: the log's entries as operators follow them (an admin sees every event; a
//! customer only those of its own ERoTs), in log order, from an index on.

use axum::Json;
use axum::extract::State;
use cairn_proto::Refusal;
use cairn_proto::api::{EventView, EventsPage, TokenRole};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Bearer;
use crate::openapi::refusals;
use crate::problem::{ApiError, Params, WithDetail};

/// The most events one page holds.
const MAX_PAGE: u32 = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this log index (all, from the first, without it).
    after: Option<u64>,
    /// At most this many (1000 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

refusals!(EventsRefusals: BEARER, STORE; MalformedRequest);

/// Events in log order, after an index.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "listEvents",
    security(("admin" = []), ("customer" = [])),
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = EventsPage), EventsRefusals))]
pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    Params(query): Params<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let owner = match bearer.role {
        TokenRole::Admin => None,
        _ => Some(bearer.hash.as_str()),
    };
    // An index is a database's signed 64-bit integer: the schema's int64 says so too.
    if query
        .after
        .is_some_and(|after| i64::try_from(after).is_err())
    {
        return Err(Refusal::MalformedRequest.with("after is beyond any log index"));
    }
    let limit = match query.limit.unwrap_or(MAX_PAGE) {
        limit @ 1..=MAX_PAGE => limit,
        limit => {
            return Err(Refusal::MalformedRequest
                .with(format!("limit {limit} is not between 1 and {MAX_PAGE}")));
        }
    };
    // What this server acknowledged is read back (an authenticated reader may hurry the
    // writer); if that fails, what is in the tree is (the writer reports the failure).
    let _ = state.log.flush().await;
    let entries = state.store.log_events(query.after, owner, limit).await?;
    let events: Vec<EventView> = entries
        .into_iter()
        .map(|e| EventView {
            index: e.index,
            entry: serde_json::from_slice(&e.bytes).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(EventsPage {
        next: events.last().map(|e| e.index).or(query.after),
        events,
    }))
}
