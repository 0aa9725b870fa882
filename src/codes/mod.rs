//! Code systems, code records and the SQL code tables used for exact lookups.

pub mod reference;
pub mod shape;
mod table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use reference::{NcciEdit, Validity};
pub use shape::{icd_form, lookup_forms};
pub use table::{CodeTable, CodeTableError, StoredCode};

/// The code systems codecite knows. Guideline notes are not a code system, but share the
/// payload field, so searches can be filtered to them as `GUIDELINE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CodeSystem {
    #[serde(rename = "CPT")]
    Cpt,
    #[serde(rename = "HCPCS")]
    Hcpcs,
    #[serde(rename = "ICD10CM")]
    Icd10Cm,
    #[serde(rename = "MODIFIER")]
    Modifier,
    #[serde(rename = "GUIDELINE")]
    Guideline,
}

impl CodeSystem {
    pub const ALL: [CodeSystem; 5] =
        [CodeSystem::Cpt, CodeSystem::Hcpcs, CodeSystem::Icd10Cm, CodeSystem::Modifier, CodeSystem::Guideline];

    pub fn as_str(self) -> &'static str {
        match self {
            CodeSystem::Cpt => "CPT",
            CodeSystem::Hcpcs => "HCPCS",
            CodeSystem::Icd10Cm => "ICD10CM",
            CodeSystem::Modifier => "MODIFIER",
            CodeSystem::Guideline => "GUIDELINE",
        }
    }

    /// How a coder names the system in prose.
    pub fn label(self) -> &'static str {
        match self {
            CodeSystem::Cpt => "CPT",
            CodeSystem::Hcpcs => "HCPCS Level II",
            CodeSystem::Icd10Cm => "ICD-10-CM",
            CodeSystem::Modifier => "Modifier",
            CodeSystem::Guideline => "Guideline",
        }
    }
}

impl fmt::Display for CodeSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown code system {0:?}; expected CPT, HCPCS, ICD10CM, MODIFIER or GUIDELINE")]
pub struct UnknownSystem(pub String);

impl FromStr for CodeSystem {
    type Err = UnknownSystem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase().replace(['-', ' ', '_'], "");
        match upper.as_str() {
            "CPT" => Ok(CodeSystem::Cpt),
            "HCPCS" | "HCPCSLEVELII" | "HCPCS2" => Ok(CodeSystem::Hcpcs),
            "ICD10CM" | "ICD10" | "ICD" => Ok(CodeSystem::Icd10Cm),
            "MODIFIER" | "MODIFIERS" => Ok(CodeSystem::Modifier),
            "GUIDELINE" | "GUIDELINES" => Ok(CodeSystem::Guideline),
            _ => Err(UnknownSystem(s.to_string())),
        }
    }
}

/// One code as the corpus describes it (one JSON line of `corpus/codes/*.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRecord {
    pub system: CodeSystem,
    pub code: String,
    /// Short title as a coder would read it in a list.
    pub title: String,
    /// Longer plain-language description, when it says more than the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Other names for exactly this code (ICD-10-CM inclusion terms at the code's own level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
    /// The everyday names people use for this code ("manual breast pump" for E0602), written by
    /// the codecite team in `corpus/names/*.tsv` and read with the corpus (which sets them over
    /// any a code file gives); stored with the record for its code page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub everyday: Vec<String>,
    /// An add-on code is reported only together with a primary procedure.
    #[serde(default, skip_serializing_if = "is_false")]
    pub addon: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_codes: Vec<String>,
    /// The year the code was deleted, for codes coders still ask about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_year: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_by: Vec<String>,
    /// The fee schedule's global period indicator, where it is certain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalPeriod>,
    /// Chapter, block and parent categories, broadest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// Instructional notes that apply (Includes, Excludes1/2, code first, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub source: String,
}

/// `codes` joined by commas, the first `shown` of them and a count of the rest when there are
/// more (an add-on can have hundreds of primaries; the code page lists them all).
pub fn short_list(codes: &[String], shown: usize) -> String {
    if codes.len() <= shown {
        return codes.join(", ");
    }
    format!("{} and {} more", codes[..shown].join(", "), codes.len() - shown)
}

/// The Medicare physician fee schedule's global surgery indicator: the days of post-operative
/// care a procedure's payment covers, or one of the letter indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlobalPeriod {
    /// Same-day procedure: pre-operative care that day and post-operative care that day.
    #[serde(rename = "000")]
    Zero,
    /// Minor procedure: ten days of post-operative care.
    #[serde(rename = "010")]
    Ten,
    /// Major surgery: the day before, the day of, and ninety days after.
    #[serde(rename = "090")]
    Ninety,
    /// Maternity codes: the obstetric package, not the surgical global.
    #[serde(rename = "MMM")]
    Maternity,
    /// The global concept does not apply (visits, tests, most imaging).
    #[serde(rename = "XXX")]
    NotApplicable,
    /// The payer sets the period (carrier-priced).
    #[serde(rename = "YYY")]
    PayerSet,
    /// An add-on: the primary procedure's period applies.
    #[serde(rename = "ZZZ")]
    AddOn,
}

impl GlobalPeriod {
    pub fn indicator(self) -> &'static str {
        match self {
            Self::Zero => "000",
            Self::Ten => "010",
            Self::Ninety => "090",
            Self::Maternity => "MMM",
            Self::NotApplicable => "XXX",
            Self::PayerSet => "YYY",
            Self::AddOn => "ZZZ",
        }
    }

    /// One sentence for a reader.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::Zero => "Global period 000: a 0-day global, so visits on the day of the procedure are included.",
            Self::Ten => "Global period 010: a 10-day global, so related follow-up for ten days is included.",
            Self::Ninety => "Global period 090: a 90-day global (major surgery), the day before through ninety days after.",
            Self::Maternity => "Global period MMM: a maternity code, paid under the obstetric package rather than a surgical global.",
            Self::NotApplicable => "Global period XXX: the global surgery concept does not apply.",
            Self::PayerSet => "Global period YYY: the payer sets the global period.",
            Self::AddOn => "Global period ZZZ: an add-on code; the primary procedure's global period applies.",
        }
    }
}

impl CodeRecord {
    /// A record with only its identity and title; loaders fill in what their files carry.
    pub fn new(system: CodeSystem, code: impl Into<String>, title: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            system,
            code: code.into(),
            title: title.into(),
            description: None,
            synonyms: vec![],
            everyday: vec![],
            addon: false,
            primary_codes: vec![],
            deleted_year: None,
            replaced_by: vec![],
            global: None,
            path: vec![],
            notes: vec![],
            source: source.into(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_parse_loosely_and_print_canonically() {
        assert_eq!("icd-10-cm".parse::<CodeSystem>().unwrap(), CodeSystem::Icd10Cm);
        assert_eq!("hcpcs".parse::<CodeSystem>().unwrap().as_str(), "HCPCS");
        assert!("cdt".parse::<CodeSystem>().is_err());
    }

    #[test]
    fn records_reject_unknown_fields() {
        let err = serde_json::from_str::<CodeRecord>(
            r#"{"system":"CPT","code":"99213","title":"x","source":"s","addon_flag":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("addon_flag"));
    }
}
