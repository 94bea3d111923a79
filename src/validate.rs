//! Validation: the rules a set of resources must keep before flinkd acts on it.
//!
//! A set is what one directory (or one `flinkd validate` call) holds, checked together
//! so that references between files resolve. Rules come in two kinds:
//!
//! - field rules, on each resource alone (names, counts ≥ 1, CPU ≥ 0.1, memory
//!   quantities and their minimums, slots × TaskManagers ≥ parallelism, the jar URI,
//!   Flink versions the daemon knows); Deployments are checked after expansion, so a bad
//!   value inherited from defaults is caught where it takes effect;
//! - set rules: a duplicate identity (the first file in name order keeps it), at most one
//!   `DeploymentDefaults` per namespace, unique `metadata.id`s, and target references
//!   that resolve within the Deployment's namespace.
//!
//! A resource with an error is left out of the valid set; the others are unaffected
//! (DESIGN.md, "Last valid spec wins"). Warnings never invalidate.

use std::collections::HashMap;

use uuid::Uuid;

use crate::cluster::Placement;
use crate::config::Config;
use crate::defaults::{self, Layers};
use crate::diagnostic::Diagnostic;
use crate::quantity::{Bytes, GIB, MIB};
use crate::resources::{FileContents, Origin, Resource};
use crate::source::FieldPath;
use crate::spec::{
    Deployment, DeploymentDefaults, DeploymentSpec, DeploymentTarget, Identity, Metadata,
    SavepointImport, API_VERSION, LOCAL_TARGET,
};

/// The smallest JobManager and TaskManager processes Flink starts reliably.
pub const MIN_JOB_MANAGER_MEMORY: Bytes = Bytes(500 * MIB);
pub const MIN_TASK_MANAGER_MEMORY: Bytes = Bytes(GIB);
/// The smallest CPU share of a JobManager or TaskManager.
pub const MIN_CPU: f64 = 0.1;
/// Kubernetes' limit on a name (RFC 1123 label).
pub const MAX_NAME_LEN: usize = 63;

/// A checked resource, with where it came from.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// Deployments are fully expanded, whether valid or not.
    pub resource: T,
    pub origin: Origin,
    /// No error was found in it. Only valid resources are acted upon.
    pub valid: bool,
    /// A Deployment's spec as its file writes it, before expansion (what says whether
    /// the file changed, or only its defaults).
    pub written: Option<crate::spec::DeploymentSpec>,
}

/// The outcome of checking a set of files: every resource that parsed (duplicates
/// excepted), and every problem found.
#[derive(Debug, Default)]
pub struct Checked {
    pub deployments: Vec<Entry<Deployment>>,
    pub targets: Vec<Entry<DeploymentTarget>>,
    pub defaults: Vec<Entry<DeploymentDefaults>>,
    /// Savepoints taken elsewhere, for the Deployments they name.
    pub imports: Vec<Entry<SavepointImport>>,
    /// In file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Where each valid Deployment runs.
    pub placements: HashMap<Identity, Placement>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The valid Deployments, fully expanded.
    pub fn valid_deployments(&self) -> impl Iterator<Item = &Entry<Deployment>> {
        self.deployments.iter().filter(|e| e.valid)
    }

    /// How many resources are valid.
    pub fn valid_count(&self) -> usize {
        self.deployments.iter().filter(|e| e.valid).count()
            + self.targets.iter().filter(|e| e.valid).count()
            + self.defaults.iter().filter(|e| e.valid).count()
            + self.imports.iter().filter(|e| e.valid).count()
    }
}

/// Checks a set of files. `config` brings the daemon's `[defaults]` and its known Flink
/// versions; without one (`flinkd validate` with no `--config`) the built-in defaults
/// apply and any flinkVersion is accepted.
pub fn check(files: Vec<FileContents>, config: Option<&Config>) -> Checked {
    let fallback = Config::default();
    let cfg = config.unwrap_or(&fallback);
    let mut out = Checked::default();
    let mut deployments = Vec::new();
    let mut targets = Vec::new();
    let mut defaults = Vec::new();
    let mut imports = Vec::new();
    for f in files {
        out.diagnostics.extend(f.diagnostics);
        for (r, origin) in f.resources {
            match r {
                Resource::Deployment(d) => deployments.push((d, origin)),
                Resource::DeploymentTarget(t) => targets.push((t, origin)),
                Resource::DeploymentDefaults(d) => defaults.push((d, origin)),
                Resource::Savepoint(s) => imports.push((s, origin)),
            }
        }
    }

    // Duplicates are decided before validity: an invalid first definition still holds
    // its identity, so a second file cannot take a Deployment over while the first has
    // a typo.
    let targets = dedupe(targets, &mut out.diagnostics, "DeploymentTarget", |t| {
        &t.metadata
    });
    let defaults = dedupe(defaults, &mut out.diagnostics, "DeploymentDefaults", |d| {
        &d.metadata
    });
    let defaults = one_per_namespace(defaults, &mut out.diagnostics);
    let deployments = dedupe(deployments, &mut out.diagnostics, "Deployment", |d| {
        &d.metadata
    });

    // Targets and defaults first: Deployments are checked against them.
    let targets = mark_valid(targets, &mut out.diagnostics, check_target);
    let defaults = mark_valid(defaults, &mut out.diagnostics, |d, o| {
        let mut v = check_metadata(&d.metadata, &d.api_version, o);
        v.extend(check_spec(
            &d.spec,
            o,
            &Provenance::Own,
            config,
            false,
            true,
        ));
        v
    });
    let index = TargetIndex::new(&targets);

    let mut expanded = Vec::new();
    for (d, origin) in deployments {
        let ns = d.metadata.namespace().to_string();
        let ns_defaults = defaults
            .iter()
            .find(|v| v.valid && v.resource.metadata.namespace() == ns);
        let layers = Layers {
            namespace: ns_defaults.map(|v| &v.resource.spec),
            config: &cfg.defaults,
            flink_version: &cfg.flink.default_version,
        };
        let full = defaults::expand(&d, layers);
        let provenance = Provenance::Layered {
            explicit: &d.spec,
            namespace: ns_defaults,
            config: &cfg.defaults,
        };
        let mut diags = check_metadata(&d.metadata, &d.api_version, &origin);
        if d.status.is_some() {
            diags.push(origin.warning(
                FieldPath::parse("status"),
                "ignored: status is the daemon's and is not read from files",
            ));
        }
        let placement = index.placement(&full.spec, &ns);
        let local_flink = !matches!(placement, Placement::Kubernetes { .. });
        diags.extend(check_spec(
            &full.spec,
            &origin,
            &provenance,
            config,
            true,
            local_flink,
        ));
        diags.extend(index.check_reference(&full.spec, &ns, &origin));
        diags.extend(kubernetes::check(&full.spec, &placement, &origin));
        expanded.push((full, origin, diags, placement, d.spec));
    }
    for (resource, origin, diags, placement, written) in expanded {
        let valid = !diags.iter().any(Diagnostic::is_error);
        out.diagnostics.extend(diags);
        if valid {
            out.placements
                .insert(resource.metadata.identity(), placement);
        }
        out.deployments.push(Entry {
            resource,
            origin,
            valid,
            written: Some(written),
        });
    }
    out.targets = targets;
    out.defaults = defaults;
    out.imports = mark_valid(imports, &mut out.diagnostics, imports::check_import);
    out.diagnostics.sort_by(|a, b| {
        (&a.file, a.location.line, a.location.col).cmp(&(&b.file, b.location.line, b.location.col))
    });
    out
}

/// Runs `rules` on each resource, records its diagnostics, marks those without errors.
fn mark_valid<T>(
    items: Vec<(T, Origin)>,
    diagnostics: &mut Vec<Diagnostic>,
    rules: impl Fn(&T, &Origin) -> Vec<Diagnostic>,
) -> Vec<Entry<T>> {
    items
        .into_iter()
        .map(|(resource, origin)| {
            let found = rules(&resource, &origin);
            let valid = !found.iter().any(Diagnostic::is_error);
            diagnostics.extend(found);
            Entry {
                resource,
                origin,
                valid,
                written: None,
            }
        })
        .collect()
}

/// Drops later resources whose identity or `metadata.id` an earlier one holds.
fn dedupe<T>(
    items: Vec<(T, Origin)>,
    diagnostics: &mut Vec<Diagnostic>,
    kind: &str,
    metadata: impl Fn(&T) -> &Metadata,
) -> Vec<(T, Origin)> {
    let mut by_identity: HashMap<Identity, String> = HashMap::new();
    let mut by_id: HashMap<Uuid, String> = HashMap::new();
    let mut kept = Vec::new();
    for (resource, origin) in items {
        let m = metadata(&resource);
        if let Some(first) = by_identity.get(&m.identity()) {
            diagnostics.push(origin.error(
                FieldPath::parse("metadata.name"),
                format!(
                    "{kind} `{}` is already defined at {first}; the first definition is kept",
                    m.identity()
                ),
            ));
            continue;
        }
        if let Some(id) = m.id {
            if let Some(first) = by_id.get(&id) {
                diagnostics.push(origin.error(
                    FieldPath::parse("metadata.id"),
                    format!("{kind} id {id} is already used at {first}"),
                ));
                continue;
            }
            by_id.insert(id, origin.place());
        }
        by_identity.insert(m.identity(), origin.place());
        kept.push((resource, origin));
    }
    kept
}

fn one_per_namespace(
    defaults: Vec<(DeploymentDefaults, Origin)>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(DeploymentDefaults, Origin)> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut kept = Vec::new();
    for (d, origin) in defaults {
        let ns = d.metadata.namespace().to_string();
        if let Some(first) = seen.get(&ns) {
            diagnostics.push(origin.error(
                FieldPath::parse("metadata.namespace"),
                format!("namespace `{ns}` already has DeploymentDefaults at {first}; a namespace has at most one"),
            ));
            continue;
        }
        seen.insert(ns, origin.place());
        kept.push((d, origin));
    }
    kept
}

/// The valid targets, for resolving Deployments' references.
struct TargetIndex<'a> {
    by_name: HashMap<(String, String), &'a Entry<DeploymentTarget>>,
    by_id: HashMap<Uuid, &'a Entry<DeploymentTarget>>,
}

impl<'a> TargetIndex<'a> {
    /// Indexes the valid targets: a Deployment cannot use an invalid one.
    fn new(targets: &'a [Entry<DeploymentTarget>]) -> Self {
        let mut by_name = HashMap::new();
        let mut by_id = HashMap::new();
        for t in targets.iter().filter(|t| t.valid) {
            let m = &t.resource.metadata;
            by_name
                .entry((m.namespace().to_string(), m.name.clone()))
                .or_insert(t);
            if let Some(id) = m.id {
                by_id.entry(id).or_insert(t);
            }
        }
        TargetIndex { by_name, by_id }
    }

    fn check_reference(&self, spec: &DeploymentSpec, ns: &str, origin: &Origin) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut by_id_name = None;
        if let Some(id) = spec.deployment_target_id {
            let path = FieldPath::parse("spec.deploymentTargetId");
            match self.by_id.get(&id) {
                None => out.push(origin.error(
                    path,
                    format!("no DeploymentTarget with id {id} (give the target file `metadata.id: {id}`, or use deploymentTargetName)"),
                )),
                Some(t) if t.resource.metadata.namespace() != ns => out.push(origin.error(
                    path,
                    format!(
                        "DeploymentTarget {id} is in namespace `{}`; a Deployment's target must be in its own namespace `{ns}`",
                        t.resource.metadata.namespace()
                    ),
                )),
                Some(t) => by_id_name = Some(t.resource.metadata.name.clone()),
            }
        }
        if let Some(name) = &spec.deployment_target_name {
            let path = FieldPath::parse("spec.deploymentTargetName");
            let exists =
                name == LOCAL_TARGET || self.by_name.contains_key(&(ns.to_string(), name.clone()));
            if !exists {
                out.push(origin.error(
                    path,
                    format!("no DeploymentTarget `{name}` in namespace `{ns}`"),
                ));
            } else if let Some(by_id) = by_id_name.filter(|n| n != name) {
                out.push(origin.error(
                    path,
                    format!("names target `{name}`, but deploymentTargetId refers to `{by_id}`"),
                ));
            }
        }
        out
    }
}

impl TargetIndex<'_> {
    /// The target a Deployment refers to, if it names one that exists.
    fn target_of(
        &self,
        spec: &DeploymentSpec,
        ns: &str,
    ) -> Option<(&'static str, &DeploymentTarget)> {
        let (path, entry) = match (spec.deployment_target_id, &spec.deployment_target_name) {
            (Some(id), _) => ("spec.deploymentTargetId", self.by_id.get(&id)?),
            (None, Some(name)) => (
                "spec.deploymentTargetName",
                self.by_name.get(&(ns.to_string(), name.clone()))?,
            ),
            (None, None) => return None,
        };
        Some((path, &entry.resource))
    }

    /// Where a valid Deployment runs: its target's cluster, or the built-in local one.
    fn placement(&self, spec: &DeploymentSpec, ns: &str) -> Placement {
        let Some((_, t)) = self.target_of(spec, ns) else {
            return Placement::Local;
        };
        match (&t.spec.flink, &t.spec.kubernetes) {
            (Some(f), _) => Placement::External {
                rest_url: f.rest_url.trim_end_matches('/').to_string(),
            },
            (None, Some(k)) => Placement::Kubernetes {
                namespace: k.namespace.clone(),
            },
            (None, None) => Placement::Local,
        }
    }
}

fn check_target(t: &DeploymentTarget, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = check_metadata(&t.metadata, &t.api_version, origin);
    let spec = FieldPath::parse("spec");
    let s = &t.spec;
    let set = [s.local.is_some(), s.kubernetes.is_some(), s.flink.is_some()]
        .into_iter()
        .filter(|set| *set)
        .count();
    match set {
        0 => out.push(origin.error(
            spec,
            "missing the target: set `local: {}`, `flink: {restUrl: …}` or `kubernetes: {namespace: …}`",
        )),
        1 => {}
        _ => out.push(origin.error(
            spec,
            "set one of `local: {}`, `flink: {restUrl: …}` and `kubernetes: {namespace: …}`, not several",
        )),
    }
    if let Some(k) = &s.kubernetes {
        if let Err(m) = check_name(&k.namespace) {
            out.push(origin.error(FieldPath::parse("spec.kubernetes.namespace"), m));
        }
    }
    if let Some(f) = &s.flink {
        if let Err(m) = check_rest_url(&f.rest_url) {
            out.push(origin.error(FieldPath::parse("spec.flink.restUrl"), m));
        }
    }
    out
}

/// A Flink REST address: `http(s)://host[:port][/path]`, nothing else.
pub(crate) fn check_rest_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| {
        format!("`{text}` is not a URL ({e}); expected e.g. http://flink-jobmanager:8081")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}`: the Flink REST API is reached over http or https, not `{}`",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}`: a REST address takes no query or fragment"
        ));
    }
    Ok(())
}

fn check_metadata(m: &Metadata, api_version: &str, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if api_version != API_VERSION {
        out.push(origin.error(
            FieldPath::parse("apiVersion"),
            format!("unsupported apiVersion `{api_version}`, expected `{API_VERSION}`"),
        ));
    }
    if let Err(msg) = check_name(&m.name) {
        out.push(origin.error(FieldPath::parse("metadata.name"), msg));
    }
    if let Some(ns) = &m.namespace {
        if let Err(msg) = check_name(ns) {
            out.push(origin.error(FieldPath::parse("metadata.namespace"), msg));
        }
    }
    out
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(|c| ok_char(c) || c == '-')
        && name.starts_with(ok_char)
        && name.ends_with(ok_char);
    if valid {
        Ok(())
    } else if name.len() > MAX_NAME_LEN {
        Err(format!(
            "`{name}` is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ))
    } else {
        Err(format!(
            "`{name}` is not a valid name: use lower-case letters, digits and `-`, starting and ending with a letter or digit (e.g. top-speed)"
        ))
    }
}

mod imports;
mod kubernetes;
mod spec;

pub use imports::check_location;
use spec::{check_spec, Provenance};

#[cfg(test)]
mod tests;
