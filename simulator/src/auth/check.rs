//! Authenticating a request from its `Authorization` header and authorizing it against the RBAC
//! objects in the store.

use super::rbac::{Decision, RbacSource, decide};
use super::{Attributes, Denial};
use crate::cluster::{Cluster, UserInfo};
use crate::error::{ApiError, qualified_resource};
use crate::store::{GroupResource, Txn};
use http::HeaderValue;
use serde_json::{Value, json};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Requester {
    /// No credentials: the cluster administrator, allowed everything.
    Admin,
    /// An authenticated user whose requests RBAC decides.
    User(UserInfo),
}

fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// Who sends a request with this `Authorization` header: none is the administrator, a bearer
/// token issued for a ServiceAccount that still exists is that account, anything else is a 401.
pub fn authenticate(
    c: &Cluster,
    authorization: Option<&HeaderValue>,
) -> Result<Requester, ApiError> {
    let Some(header) = authorization else {
        return Ok(Requester::Admin);
    };
    let text = header.to_str().map_err(|_| unauthorized())?;
    let mut parts = text.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(unauthorized());
    }
    let account = c.auth.tokens.lookup(token).ok_or_else(unauthorized)?;
    let exists = c
        .store
        .txn()
        .get_ref(
            &(String::new(), "serviceaccounts".into()),
            &account.namespace,
            &account.name,
        )
        .is_some();
    if !exists {
        return Err(unauthorized());
    }
    Ok(Requester::User(UserInfo::service_account(
        &account.namespace,
        &account.name,
    )))
}

/// The 403 the real server answers when `user` may not do `attrs`.
pub fn forbidden(user: &UserInfo, attrs: &Attributes, reason: &str) -> ApiError {
    let scope = if attrs.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", attrs.namespace)
    };
    let mut why = format!(
        "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        user.username,
        attrs.verb,
        attrs.combined_resource(),
        attrs.group
    );
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    let resource = qualified_resource(&attrs.group, &attrs.resource);
    let message = if attrs.name.is_empty() {
        format!("{resource} is forbidden: {why}")
    } else {
        format!("{resource} \"{}\" is forbidden: {why}", attrs.name)
    };
    let mut details = json!({"kind": attrs.resource});
    if !attrs.name.is_empty() {
        details["name"] = json!(attrs.name);
    }
    if !attrs.group.is_empty() {
        details["group"] = json!(attrs.group);
    }
    ApiError {
        code: 403,
        reason: "Forbidden".into(),
        message,
        details: Some(details),
    }
}

/// Allow the request, or refuse it with a 403 and record the refusal.
pub fn authorize(c: &Cluster, requester: &Requester, attrs: &Attributes) -> Result<(), ApiError> {
    let Requester::User(user) = requester else {
        return Ok(());
    };
    let decision = {
        let txn = c.store.txn();
        decide(&StoreRbac(&txn), user, attrs)
    };
    let Decision::Deny { reason } = decision else {
        return Ok(());
    };
    let error = forbidden(user, attrs, &reason);
    c.auth.denials.record(Denial {
        user: user.username.clone(),
        attributes: attrs.clone(),
        message: error.message.clone(),
    });
    Err(error)
}

/// The roles and bindings in the store.
struct StoreRbac<'a, 'b>(&'a Txn<'b>);

fn rbac(resource: &str) -> GroupResource {
    (RBAC_GROUP.to_string(), resource.to_string())
}

impl RbacSource for StoreRbac<'_, '_> {
    fn cluster_role_bindings(&self) -> Vec<Value> {
        self.0.list(&rbac("clusterrolebindings"), None)
    }

    fn role_bindings(&self, namespace: &str) -> Vec<Value> {
        self.0.list(&rbac("rolebindings"), Some(namespace))
    }

    fn cluster_role(&self, name: &str) -> Option<Value> {
        self.0.get(&rbac("clusterroles"), "", name)
    }

    fn role(&self, namespace: &str, name: &str) -> Option<Value> {
        self.0.get(&rbac("roles"), namespace, name)
    }
}
