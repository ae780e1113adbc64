//! The plan document (SPEC.md, `plan.schema.json`) as plain types: fields,
//! names and small accessors, nothing more. Reading them is `read` (shape) and
//! `load` (text to a checked plan), their rules are `validate`, which sign-offs
//! count is `gate`, and the public part apps download is `client`.

#[cfg(feature = "serde")]
use serde::Serialize;

use crate::json::{Map, Number, Value};

#[cfg(feature = "schema")]
use schemars::JsonSchema;

/// The document version this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The roles a sign-off can be given in (the plan's "Approval Sign-offs").
pub const SIGNOFF_ROLES: [&str; 4] = [
    "engineering-lead",
    "product-manager",
    "qa-lead",
    "devops-lead",
];

/// The environment whose forward moves wait for every required sign-off.
pub const GATED_ENVIRONMENT: &str = "production";

/// Every role a user can have, by name (`Role::ALL` in order).
pub const ROLES: [&str; 7] = [
    "admin",
    "editor",
    "viewer",
    "engineering-lead",
    "product-manager",
    "qa-lead",
    "devops-lead",
];

/// A user's role. The last four sign off stages; the plan names them in
/// `requiredSignoffs` and in each sign-off's `role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Role {
    Admin,
    Editor,
    Viewer,
    EngineeringLead,
    ProductManager,
    QaLead,
    DevopsLead,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Editor,
        Role::Viewer,
        Role::EngineeringLead,
        Role::ProductManager,
        Role::QaLead,
        Role::DevopsLead,
    ];

    pub fn name(self) -> &'static str {
        ROLES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Role> {
        let i = ROLES.iter().position(|known| *known == name)?;
        Some(Self::ALL[i])
    }

    /// Whether this role signs off stages.
    pub fn signs(self) -> bool {
        SIGNOFF_ROLES.contains(&self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::json::deserialize_named(deserializer, &Role::ALL, Role::name)
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(feature = "serde")]
fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Plan {
    pub schema_version: u32,
    /// Set by the store on every write; a client never chooses it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub revision: u64,
    pub rollouts: Map<Rollout>,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub signoffs: Vec<Signoff>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Rollout {
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub description: Option<String>,
    /// Hash salt; the rollout's key when absent.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub salt: Option<String>,
    pub flags: Map<Flag>,
    pub stages: Vec<Stage>,
    pub environments: Map<Environment>,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<TriggerShape>"))]
    pub rollback_triggers: Vec<RollbackTrigger>,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub checklist: Vec<ChecklistItem>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum FlagType {
    Boolean,
    String,
    Number,
    Json,
}

impl FlagType {
    pub const ALL: [FlagType; 4] = [
        FlagType::Boolean,
        FlagType::String,
        FlagType::Number,
        FlagType::Json,
    ];

    /// The names of `ALL`, in order.
    pub const NAMES: &'static [&'static str] = &["boolean", "string", "number", "json"];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn admits(self, value: &Value) -> bool {
        match self {
            FlagType::Boolean => value.is_boolean(),
            FlagType::String => value.is_string(),
            FlagType::Number => value.is_number(),
            FlagType::Json => true,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Flag {
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: FlagType,
    /// What everyone outside the rollout, and everyone under the kill switch, gets.
    pub fallback: Value,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Stage {
    pub id: String,
    pub name: String,
    /// 0–100 with at most two decimals.
    pub percentage: Number,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub planned_for: Option<String>,
    /// Flag values for units in the rollout at this stage; unnamed flags keep their fallback.
    pub values: Map,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub required_signoffs: Vec<String>,
    /// What to watch while this stage is active.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub monitoring: Vec<String>,
    /// Hours this stage must be live in an environment before the next one.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub soak_hours: Option<Number>,
    /// Whether the server advances to the next stage by itself once the soak,
    /// the triggers and the next stage's sign-offs allow it.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub auto_advance: bool,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Environment {
    /// Required, and `null` for no active stage.
    #[cfg_attr(feature = "schema", schemars(required, extend("type" = ["string", "null"])))]
    pub active_stage: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub kill_switch: bool,
    /// Targeting keys always in the rollout (while a stage is active).
    #[cfg_attr(feature = "serde", serde(default))]
    pub include: Vec<String>,
    /// Targeting keys never in the rollout; wins over `include`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub exclude: Vec<String>,
    /// All must hold for a unit to be bucketed at all.
    #[cfg_attr(feature = "serde", serde(default))]
    pub constraints: Vec<Constraint>,
    /// Set by the store: the revision of this environment's last rollback (kill
    /// switch on, a step back, or to no stage). Sign-offs recorded at or before it
    /// no longer count for moving it forward: an incident voids earlier approvals.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    #[cfg_attr(feature = "schema", schemars(with = "u64"))]
    pub rolled_back_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Constraint {
    /// A context attribute, such as `platform` or `appVersion`.
    pub attribute: String,
    pub operator: Operator,
    /// For `in` and `notIn`: the attribute's value (as text) is, or is not, one of these.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub values: Vec<String>,
    /// For the semver operators: the version to compare with.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub value: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub enum Operator {
    In,
    NotIn,
    SemverEq,
    SemverGt,
    SemverGte,
    SemverLt,
    SemverLte,
}

impl Operator {
    pub const ALL: [Operator; 7] = [
        Operator::In,
        Operator::NotIn,
        Operator::SemverEq,
        Operator::SemverGt,
        Operator::SemverGte,
        Operator::SemverLt,
        Operator::SemverLte,
    ];

    /// The names of `ALL`, in order, as the document writes them.
    pub const NAMES: &'static [&'static str] = &[
        "in",
        "notIn",
        "semverEq",
        "semverGt",
        "semverGte",
        "semverLt",
        "semverLte",
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|known| *known == name)?;
        Some(Self::ALL[i])
    }

    pub fn is_semver(self) -> bool {
        !matches!(self, Operator::In | Operator::NotIn)
    }
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct RollbackTrigger {
    /// The trigger's name, unique in its rollout.
    pub metric: String,
    /// The counted event (SPEC.md, "Guardrails").
    pub event: String,
    /// The event `event` is divided by: a rate when given, a count when not.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub per: Option<String>,
    /// Rates only: against the control cohort, or under a ceiling.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub compare: Option<Compare>,
    pub threshold: Number,
    /// Rates only: percentage points, or percent of the control's rate.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub unit: Option<ThresholdUnit>,
    /// `per` events each compared cohort needs (exposures, for a count).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub min_sample: u64,
    pub action: TriggerAction,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub description: Option<String>,
}

/// A trigger as the JSON Schema describes it: today's shape, or the first
/// version's, which is upgraded when read (SPEC.md, "Triggers").
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum TriggerShape {
    Current(RollbackTrigger),
    FirstVersion(FirstVersionTrigger),
}

#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct FirstVersionTrigger {
    metric: String,
    /// The threshold; `metric` names what it applies to.
    above: Number,
    #[serde(default)]
    description: Option<String>,
}

/// Names of the enums below as the document writes them, in declaration order.
macro_rules! named_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(Serialize))]
        #[cfg_attr(feature = "schema", derive(JsonSchema))]
        #[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }

            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.get(name_index(Self::NAMES, name)?).copied()
            }
        }
    };
}

/// Where `name` is in `names`: one copy of the search for every named enum.
fn name_index(names: &[&str], name: &str) -> Option<usize> {
    names.iter().position(|known| *known == name)
}

named_enum!(Compare { Control = "control", Ceiling = "ceiling" });
named_enum!(ThresholdUnit { Points = "points", Percent = "percent" });
named_enum!(TriggerAction { Rollback = "rollback", Hold = "hold" });

/// The reserved event that counts units exposed to a rollout.
pub const EXPOSURE_EVENT: &str = "exposure";

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ChecklistItem {
    pub phase: String,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub group: Option<String>,
    pub item: String,
    #[cfg_attr(feature = "serde", serde(default))]
    pub done: bool,
    /// Set by the store: who last ticked or unticked the item.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub done_by: Option<String>,
    /// Set by the store: when (RFC 3339, UTC).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub done_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Signoff {
    pub id: String,
    pub rollout: String,
    pub stage: String,
    pub role: String,
    pub by: String,
    /// RFC 3339 time of signing.
    pub at: String,
    /// `stage_digest` of the stage as it was signed; stale once the stage changes.
    pub stage_digest: String,
    /// Set by the store: the revision that recorded this sign-off (0: before
    /// sign-offs carried one).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub revision: u64,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub comment: Option<String>,
}

impl Rollout {
    pub fn salt<'a>(&'a self, key: &'a str) -> &'a str {
        self.salt.as_deref().unwrap_or(key)
    }

    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|stage| stage.id == id)
    }
}
