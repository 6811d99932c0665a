//! Deciding permissions from SelfSubjectRulesReviews instead of one SelfSubjectAccessReview
//! per permission: one review of the cluster-wide rules (namespace `""`: the RBAC
//! authorizer then reads ClusterRoleBindings only) and one per namespace the install
//! writes to (ClusterRoleBindings plus that namespace's RoleBindings). A permission is
//! decided only by a review that says it is `complete`; otherwise (a webhook or another
//! authorizer that cannot list rules) the edge falls back to access reviews, so an
//! incomplete list never turns into "denied" or "allowed".

use k8s_openapi::api::authorization::v1::ResourceRule;

use super::preflight::Permission;

/// The rules of one review, as the server returned them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `status.resourceRules`.
    pub rules: Vec<ResourceRule>,
    /// `status.incomplete`: the server could not list every rule.
    pub incomplete: bool,
}

/// What the rules say about one permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A rule grants it.
    Allowed,
    /// The complete rule list does not grant it.
    Denied,
    /// The list is incomplete and grants nothing: ask an access review.
    Unknown,
}

fn covers(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether `rule` grants `verb` on every object of `group`/`resource` (a rule limited to
/// `resourceNames` grants only those objects, not what an install needs).
pub fn grants(rule: &ResourceRule, verb: &str, group: &str, resource: &str) -> bool {
    let names = rule.resource_names.as_deref().unwrap_or_default();
    covers(&rule.verbs, verb)
        && covers(rule.api_groups.as_deref().unwrap_or_default(), group)
        && covers(rule.resources.as_deref().unwrap_or_default(), resource)
        && names.is_empty()
}

/// The verdict of `rules` on `p`.
pub fn decide(rules: &Rules, p: &Permission) -> Verdict {
    if rules
        .rules
        .iter()
        .any(|r| grants(r, p.verb, &p.group, &p.resource))
    {
        Verdict::Allowed
    } else if rules.incomplete {
        Verdict::Unknown
    } else {
        Verdict::Denied
    }
}

/// The review each permission is decided by: the cluster-wide one for cluster-scoped
/// permissions (a RoleBinding never grants those), the namespace's for the others.
pub fn review_namespace(p: &Permission) -> &str {
    p.namespace.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> ResourceRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ResourceRule {
            verbs: v(verbs),
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            resource_names: (!names.is_empty()).then(|| v(names)),
        }
    }

    fn perm(verb: &'static str, group: &str, resource: &str) -> Permission {
        Permission {
            verb,
            group: group.into(),
            resource: resource.into(),
            namespace: Some("coco-system".into()),
        }
    }

    #[test]
    fn wildcards_grant_and_named_rules_do_not() {
        let admin = Rules {
            rules: vec![rule(&["*"], &["*"], &["*"], &[])],
            incomplete: false,
        };
        assert_eq!(
            decide(&admin, &perm("patch", "apps", "daemonsets")),
            Verdict::Allowed
        );
        let named = Rules {
            rules: vec![rule(
                &["get", "patch"],
                &["apps"],
                &["daemonsets"],
                &["kata-deploy"],
            )],
            incomplete: false,
        };
        assert_eq!(
            decide(&named, &perm("patch", "apps", "daemonsets")),
            Verdict::Denied
        );
        let core = Rules {
            rules: vec![rule(&["get", "list"], &[""], &["secrets"], &[])],
            incomplete: false,
        };
        assert_eq!(
            decide(&core, &perm("list", "", "secrets")),
            Verdict::Allowed
        );
        assert_eq!(
            decide(&core, &perm("create", "", "secrets")),
            Verdict::Denied
        );
        // The core group is "", not any group.
        assert_eq!(
            decide(&core, &perm("list", "apps", "secrets")),
            Verdict::Denied
        );
    }

    #[test]
    fn an_incomplete_list_decides_only_what_it_grants() {
        let partial = Rules {
            rules: vec![rule(&["get"], &[""], &["nodes"], &[])],
            incomplete: true,
        };
        assert_eq!(
            decide(&partial, &perm("get", "", "nodes")),
            Verdict::Allowed
        );
        assert_eq!(
            decide(&partial, &perm("list", "", "nodes")),
            Verdict::Unknown
        );
    }
}
