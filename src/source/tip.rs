//! The tree at the tip of the default branch, for rules that judge a whole project at once
//! (`scope = "tree"`: a Flask application with no handler for internal errors anywhere).
//!
//! Only the audit reads it: such a property belongs to the project as it is now, not to a line
//! that a push or a commit adds.

use std::path::Path;

use bstr::{BString, ByteVec};
use gix::objs::Kind;

use super::repo::{commit_info, EntryKind, Repo};
use crate::error::Result;
use crate::finding::{CommitMeta, Finding, Provenance};
use crate::rules::Ruleset;

/// Findings of the tree rules on the tree of `HEAD` (none on an unborn branch). Objects that
/// cannot be read are left out: the history pass reports them with their ids.
pub fn tree_findings(repo_path: &Path, rules: &Ruleset) -> Result<Vec<Finding>> {
    if !rules.has_tree_rules() {
        return Ok(Vec::new());
    }
    let repo = Repo::open(repo_path)?;
    let Ok(head) = repo.gix().head_id() else {
        return Ok(Vec::new());
    };
    let head = head.detach();
    let odb = repo.objects();
    let mut buf = Vec::new();
    let (tree, _) = odb.commit_tree_and_parents(&head, &mut buf)?;
    let info = commit_info(&buf, odb.hash_kind());
    let mut files = Vec::new();
    let mut stack = vec![(BString::default(), tree)];
    while let Some((prefix, id)) = stack.pop() {
        for (name, oid, kind) in odb.tree_entries(&id, &mut buf)? {
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.push_str(&name);
            match kind {
                EntryKind::Tree => stack.push((path, oid)),
                EntryKind::File if rules.tree_rule_reads(&path) => {
                    let fits = matches!(odb.header(&oid), Ok(Some((Kind::Blob, size))) if size <= rules.policy.max_blob_bytes);
                    let mut data = Vec::new();
                    if fits && odb.read_kind(&oid, Kind::Blob, &mut data).is_ok() {
                        files.push((path.into(), data));
                    } else {
                        tracing::debug!(path = %crate::escape::escape(&path), "not read for tree rules");
                    }
                }
                _ => {}
            }
        }
    }
    let prov = Provenance::History(CommitMeta {
        id: head.to_string(),
        author: info.author,
        date: info.date,
        subject: None,
    });
    Ok(rules
        .scan_tree(&files)
        .into_iter()
        .map(|(i, m)| {
            let mut f = Finding::new(rules, &m, &files[i].0, &prov);
            f.present_at_head = Some(true);
            f.occurrences = Some(1);
            f
        })
        .collect())
}
