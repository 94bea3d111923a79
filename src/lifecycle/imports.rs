//! Savepoints taken elsewhere (a job moved from another platform, a copy of another
//! Deployment's state): recorded COMPLETED with origin IMPORTED, and from then on the
//! newest restore point for LATEST_SAVEPOINT and LATEST_STATE. The same location
//! handed over again (a `kind: Savepoint` file read at every scan) is recorded once.
//! A job that runs keeps running: the import is used by the next start.

use super::*;
use crate::spec::Savepoint;

impl Lifecycle {
    pub(super) fn import(&mut self, ctx: &mut Ctx<'_>, location: &str, out: &mut Out) {
        let location = location.trim();
        if location.is_empty() || already_imported(&ctx.records.savepoints, location) {
            return;
        }
        let savepoint = ctx.ids.next_id();
        out.push(Action::RecordSavepoint {
            savepoint,
            job: Uuid::nil(),
            origin: SavepointOrigin::Imported,
            state: SavepointState::Completed,
            location: Some(location.to_string()),
            trigger_id: None,
            failure: None,
            completed_at: Some(ctx.now),
        });
        let when = match self.phase.job() {
            Some(_) => "the next start of a job restores from it (the running job runs on)",
            None => "the next start restores from it",
        };
        out.info(
            EventName::SavepointImported,
            None,
            format!("savepoint {location} imported; {when}, per the restore strategy"),
        );
    }
}

/// Whether `location` is already a savepoint of the Deployment (imported or its own).
pub fn already_imported(savepoints: &[Savepoint], location: &str) -> bool {
    let same = |l: &str| l.trim_end_matches('/') == location.trim_end_matches('/');
    savepoints
        .iter()
        .any(|s| s.state == SavepointState::Completed && s.location.as_deref().is_some_and(same))
}
