//! `kind: Savepoint` files: each valid one is handed to the Deployment it names, once
//! that Deployment is managed (a file may come before the Deployment it is for). The
//! Deployment's lifecycle records it once, however often the file is read.

use std::collections::HashMap;
use std::path::PathBuf;

use super::Supervisor;
use crate::actors::deployment::ImportSavepoint;
use crate::spec::Identity;
use crate::validate;

/// A savepoint a file hands to a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Import {
    /// The Deployment, by id or by name.
    pub to: Target,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Target {
    Id(uuid::Uuid),
    Name(Identity),
}

impl Supervisor {
    /// Takes the imports of a read: the files read replace what they held before.
    pub(super) fn read_imports(
        &mut self,
        files: &[PathBuf],
        scope: Option<&[PathBuf]>,
        checked: &validate::Checked,
    ) {
        let mut read: HashMap<PathBuf, Vec<Import>> = HashMap::new();
        for e in checked.imports.iter().filter(|e| e.valid) {
            let m = &e.resource.metadata;
            let to = match (m.deployment_id, &m.deployment_name) {
                (Some(id), _) => Target::Id(id),
                (None, Some(name)) => Target::Name(Identity {
                    namespace: m.namespace().to_string(),
                    name: name.clone(),
                }),
                (None, None) => continue,
            };
            read.entry(e.origin.file.clone()).or_default().push(Import {
                to,
                location: e.resource.spec.savepoint_location.trim().to_string(),
            });
        }
        match scope {
            Some(scope) => {
                for f in scope {
                    self.imports.remove(f);
                }
            }
            None => self.imports.retain(|f, _| files.contains(f)),
        }
        self.imports.extend(read);
    }

    /// Hands each import to its Deployment, if that one is managed; one naming no
    /// Deployment yet waits, and is said once.
    pub(super) fn hand_over_imports(&mut self) {
        let imports: Vec<(PathBuf, Import)> = self
            .imports
            .iter()
            .flat_map(|(f, list)| list.iter().map(move |i| (f.clone(), i.clone())))
            .collect();
        for (file, import) in imports {
            let identity = match &import.to {
                Target::Id(id) => self.by_id.get(id).cloned(),
                Target::Name(identity) => Some(identity.clone()),
            };
            let managed = identity
                .as_ref()
                .and_then(|i| self.managed.get(i))
                .filter(|m| !m.removing);
            let Some(m) = managed else {
                let line = format!(
                    "{}: the savepoint {} is for a Deployment flinkd does not manage ({}); it is imported once that Deployment is",
                    file.display(),
                    import.location,
                    match &import.to {
                        Target::Id(id) => format!("id {id}"),
                        Target::Name(i) => i.to_string(),
                    }
                );
                if self.reported.insert(line.clone()) {
                    tracing::warn!("{line}");
                }
                continue;
            };
            let id = m.id;
            if self.imported.insert((id, import.location.clone())) {
                m.addr.do_send(ImportSavepoint {
                    location: import.location,
                });
            }
        }
    }
}
