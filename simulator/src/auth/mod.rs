//! Who makes an API request and whether RBAC lets them.
//!
//! - Authentication ([`authenticate`]): a request without an `Authorization` header comes from
//!   the cluster administrator, as every kubeconfig kubesim writes does; `Bearer <token>` with a
//!   token issued for a ServiceAccount ([`Tokens`]) is that account's user; anything else is a
//!   `401 Unauthorized`.
//! - Authorization ([`authorize`]): the administrator may do anything; a service account user is
//!   checked per request against the Roles, ClusterRoles and bindings in the store ([`rbac`]).
//!   Every refusal is a `403 Forbidden` in the real server's words, and is recorded in the
//!   [`DenialLog`].
//!
//! Only HTTP requests are authorized: the simulator's controllers and kubelet write directly.

mod attributes;
mod check;
mod denials;
pub mod rbac;
mod tokens;

pub use attributes::{Attributes, name_from_field_selector};
pub use check::{Requester, authenticate, authorize, forbidden};
pub use denials::{Denial, DenialLog};
pub use tokens::{ServiceAccountRef, Tokens};

/// The authentication and authorization state of one cluster.
#[derive(Clone, Default)]
pub struct Auth {
    /// Tokens issued for service accounts.
    pub tokens: Tokens,
    /// Requests refused by RBAC.
    pub denials: DenialLog,
}
