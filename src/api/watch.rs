//! `GET …/deployments?watch=true` (and `/api/v1/deployments?watch=true`, of every
//! namespace): the namespace's Deployments as they change, as
//! server-sent events (`text/event-stream`). Each event is `event: ADDED`, `MODIFIED`
//! or `DELETED` with the Deployment (as the list shows it) as its `data`; first every
//! Deployment there is, as ADDED, then an `event: SYNCED` with no data. The store is
//! read every [`WATCH_EVERY`]; a change between two reads that undoes itself is not
//! seen. A comment every 15 s keeps idle connections open through proxies.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};

use super::{masked, ApiError, ApiState};

/// How often a watch reads the store.
pub const WATCH_EVERY: Duration = Duration::from_millis(300);

/// A change to send: its kind and the Deployment's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: &'static str,
    pub json: String,
}

/// The changes from `before` to `now` (by name: the Deployment's JSON), in name order,
/// deletions last.
pub fn changes(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<Change> {
    let mut out: Vec<Change> = now
        .iter()
        .filter_map(|(name, json)| match before.get(name) {
            None => Some(Change {
                kind: "ADDED",
                json: json.clone(),
            }),
            Some(old) if old != json => Some(Change {
                kind: "MODIFIED",
                json: json.clone(),
            }),
            Some(_) => None,
        })
        .collect();
    out.extend(
        before
            .iter()
            .filter(|(name, _)| !now.contains_key(*name))
            .map(|(_, json)| Change {
                kind: "DELETED",
                json: json.clone(),
            }),
    );
    out
}

/// The namespace's Deployments (all of every namespace: `None`) by `namespace/name`,
/// each as JSON.
async fn snapshot(s: &ApiState, ns: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let ns = ns.map(str::to_string);
    let list = s.read(move |st| st.deployments(ns.as_deref())).await?;
    Ok(list
        .into_iter()
        .filter(|d| !d.removed)
        .map(|d| {
            let d = masked(d.deployment);
            let json = serde_json::to_string(&d).unwrap_or_default();
            (
                format!("{}/{}", d.metadata.namespace(), d.metadata.name),
                json,
            )
        })
        .collect())
}

struct Watch {
    state: ApiState,
    ns: Option<String>,
    seen: BTreeMap<String, String>,
    pending: std::collections::VecDeque<Event>,
    /// Whether SYNCED is still to be sent (after the first read that answers).
    first: bool,
    /// Whether the store was read before: every read but the first waits.
    tried: bool,
}

/// The event stream of a watch of namespace `ns` (every namespace: `None`).
pub fn stream(
    state: ApiState,
    ns: Option<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watch = Watch {
        state,
        ns,
        seen: BTreeMap::new(),
        pending: Default::default(),
        first: true,
        tried: false,
    };
    let events = stream::unfold(watch, |mut w| async move {
        loop {
            if let Some(event) = w.pending.pop_front() {
                return Some((Ok(event), w));
            }
            if w.tried {
                tokio::time::sleep(WATCH_EVERY).await;
            }
            w.tried = true;
            // A store that does not answer: tried again at the next read (after the
            // same wait, the first read too).
            let Ok(now) = snapshot(&w.state, w.ns.as_deref()).await else {
                continue;
            };
            for c in changes(&w.seen, &now) {
                w.pending
                    .push_back(Event::default().event(c.kind).data(c.json));
            }
            if w.first {
                w.pending
                    .push_back(Event::default().event("SYNCED").data(""));
                w.first = false;
            }
            w.seen = now;
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changes_name_what_was_added_modified_and_deleted() {
        let before = map(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let now = map(&[("a", "1"), ("b", "2"), ("d", "1")]);
        let got: Vec<(&str, String)> = changes(&before, &now)
            .into_iter()
            .map(|c| (c.kind, c.json))
            .collect();
        assert_eq!(
            got,
            [
                ("MODIFIED", "2".to_string()),
                ("ADDED", "1".to_string()),
                ("DELETED", "1".to_string())
            ]
        );
        assert!(changes(&now, &now).is_empty());
    }
}
