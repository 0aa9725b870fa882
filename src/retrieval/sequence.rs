//! The order the ICD-10-CM tabular sets between two codes: a code whose note says "Code first:
//! COVID-19 (U07.1)" comes after U07.1, and one whose note says "Use additional code: code
//! (B95-B97), to identify infectious agent" comes before the organism's code. The notes are in
//! the chunk's text, one per line, as the ingest writes them.

use crate::codes::CodeSystem;

/// A code reference in a note: one code, a code and everything under it ("F17.-"), or a range
/// of categories ("B95-B97").
#[derive(Debug, PartialEq)]
enum Reference {
    Code(String),
    Under(String),
    Categories(String, String),
}

impl Reference {
    fn covers(&self, code: &str) -> bool {
        match self {
            Reference::Code(c) => c == code,
            Reference::Under(stem) => code.starts_with(stem.as_str()),
            Reference::Categories(from, to) => {
                let category = code.get(..3).unwrap_or(code);
                from.as_str() <= category && category <= to.as_str()
            }
        }
    }
}

/// An ICD-10-CM code's shape: a letter, a digit, a digit or letter, then an optional part after
/// a dot.
fn icd_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphanumeric()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

/// The codes the lines of `text` that start with `heading` name in parentheses.
fn references(text: &str, heading: &str) -> Vec<Reference> {
    let mut out = vec![];
    for line in text.lines().filter(|l| l.starts_with(heading)) {
        let inside = line.split('(').skip(1).filter_map(|part| part.split(')').next());
        for item in inside.flat_map(|list| list.split([',', ' '])) {
            let item = item.trim().trim_end_matches(['.', ';']);
            if let Some((from, to)) = item.split_once('-').filter(|(_, to)| !to.is_empty()) {
                if icd_shaped(from) && icd_shaped(to) {
                    out.push(Reference::Categories(from[..3].to_string(), to[..3].to_string()));
                }
            } else if let Some(stem) = item.strip_suffix('-') {
                let stem = stem.trim_end_matches('.');
                if icd_shaped(stem) {
                    out.push(Reference::Under(stem.to_string()));
                }
            } else if icd_shaped(item) {
                out.push(Reference::Code(item.to_string()));
            }
        }
    }
    out
}

/// A code and what its notes say of the order: the codes to code first, and those to add.
pub struct Noted<'a> {
    code: &'a str,
    first: Vec<Reference>,
    additional: Vec<Reference>,
    /// The best hit's adverse effect or underdosing ([`after_its_manifestation`]); a hit below
    /// the best one is another answer, not the effect of the condition found above it.
    effect: bool,
    /// A diagnosis of a disease or a symptom (ICD-10-CM chapters A–R, and U's), which an
    /// adverse effect or an underdosing can be the nature of; not an injury, an external cause
    /// or a Z code.
    condition: bool,
    /// The best hit is an external cause ([`is_external_cause`]); a hit below the best one is
    /// another answer.
    external: bool,
    /// An injury or a poisoning (ICD-10-CM chapter 19, S and T), which an external cause tells
    /// the cause of.
    injury: bool,
}

impl<'a> Noted<'a> {
    /// A hit's `code` of `system` with its `title` and the notes of its chunk's `text`, read
    /// once; `best` when it is the first hit.
    pub fn new(system: CodeSystem, code: &'a str, title: &str, text: &str, best: bool) -> Self {
        let icd = system == CodeSystem::Icd10Cm;
        Noted {
            code,
            first: references(text, "Code first"),
            additional: references(text, "Use additional code"),
            effect: best && icd && after_its_manifestation(title),
            condition: icd && !matches!(code.as_bytes().first(), Some(b'S'..=b'Z')),
            external: best && is_external_cause(system, code),
            injury: icd && matches!(code.as_bytes().first(), Some(b'S' | b'T')),
        }
    }
}

/// The guidelines' order for drugs: an adverse effect of a drug properly taken is coded after
/// the nature of the effect (dizziness, then the antihypertensive's adverse effect), an
/// underdosing after the condition the missed doses let worsen; a poisoning is coded first.
pub fn after_its_manifestation(title: &str) -> bool {
    let t = title.trim_start().to_lowercase();
    t.starts_with("adverse effect of") || t.starts_with("underdosing of")
}

/// An ICD-10-CM external cause of morbidity (chapter 20, V00–Y99: "Fall on and from ladder"),
/// which the guidelines never list first: it follows the injury or condition it explains.
pub fn is_external_cause(system: CodeSystem, code: &str) -> bool {
    system == CodeSystem::Icd10Cm && matches!(code.as_bytes().first(), Some(b'V'..=b'Y'))
}

/// The tabular puts `a` before `b`: `b` says to code `a` first, or `a` says to use `b` as an
/// additional code; or the guidelines do: `b` is an adverse effect or an underdosing, `a` a
/// condition, or `b` an external cause, `a` an injury.
pub fn goes_before(a: &Noted, b: &Noted) -> bool {
    a.code != b.code
        && (says_code_first(a, b) || a.additional.iter().any(|r| r.covers(b.code)) || (b.effect && a.condition) || (b.external && a.injury))
}

/// `b`'s own note says to code `a` first ("Code first: COVID-19 (U07.1)" on J12.82).
pub fn says_code_first(a: &Noted, b: &Noted) -> bool {
    a.code != b.code && b.first.iter().any(|r| r.covers(a.code))
}

/// The order of `hits` with a hit the tabular puts before an earlier one moved right before
/// it, when `may_move(earlier, later)` allows: one pass, and one hit moved before any hit, so
/// that no cycle of notes loops and the five diabetes codes that each say "use additional code
/// (Z79.4)" do not all pass it.
pub fn in_tabular_order(hits: &[Noted], may_move: impl Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..hits.len()).collect();
    let mut preceded = vec![false; hits.len()];
    for later in 1..hits.len() {
        let at = order.iter().position(|&i| i == later).unwrap_or(later);
        let earlier = order[..at].iter().position(|&i| !preceded[i] && goes_before(&hits[later], &hits[i]) && may_move(i, later));
        if let Some(to) = earlier {
            preceded[order[to]] = true;
            order.remove(at);
            order.insert(to, later);
        }
    }
    order
}

/// A code never listed first: a manifestation "in diseases classified elsewhere", an organism
/// "as the cause of diseases classified elsewhere", an external cause.
pub fn never_first(system: CodeSystem, code: &str, title: &str) -> bool {
    title.to_lowercase().contains("classified elsewhere") || is_external_cause(system, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The best hit from its chunk's text ("ICD-10-CM N39.0: title", then the notes).
    fn hit<'a>(code: &'a str, text: &str) -> Noted<'a> {
        let (head, title) = text.lines().next().and_then(|l| l.split_once(": ")).unwrap_or(("ICD-10-CM", ""));
        let system = if head.starts_with("HCPCS") { CodeSystem::Hcpcs } else { CodeSystem::Icd10Cm };
        Noted::new(system, code, title, text, true)
    }

    const UTI: &str = "ICD-10-CM N39.0: Urinary tract infection, site not specified\nExcludes1: cystitis (N30.-)\nUse additional code: code (B95-B97), to identify infectious agent.";
    const ECOLI: &str = "ICD-10-CM B96.20: Unspecified Escherichia coli [E. coli] as the cause of diseases classified elsewhere";
    const COVID_PNEUMONIA: &str = "ICD-10-CM J12.82: Pneumonia due to coronavirus disease 2019\nCode first: COVID-19 (U07.1)\nCode first: associated influenza, if applicable (J09.X1, J10.0-, J11.0-)";
    const COVID: &str = "ICD-10-CM U07.1: COVID-19";

    #[test]
    fn notes_name_codes_stems_and_ranges() {
        assert_eq!(references(UTI, "Use additional code"), [Reference::Categories("B95".into(), "B97".into())]);
        assert_eq!(references(UTI, "Excludes1"), [Reference::Under("N30".into())]);
        let first = references(COVID_PNEUMONIA, "Code first");
        assert_eq!(first, [Reference::Code("U07.1".into()), Reference::Code("J09.X1".into()), Reference::Under("J10.0".into()), Reference::Under("J11.0".into())]);
        assert!(Reference::Categories("B95".into(), "B97".into()).covers("B96.20"));
        assert!(!Reference::Categories("B95".into(), "B97".into()).covers("B98.1"));
        assert!(Reference::Under("J10.0".into()).covers("J10.00"));
    }

    #[test]
    fn the_condition_comes_before_its_organism_and_covid_before_its_pneumonia() {
        let (uti, ecoli) = (hit("N39.0", UTI), hit("B96.20", ECOLI));
        assert!(goes_before(&uti, &ecoli) && !goes_before(&ecoli, &uti));
        let (pneumonia, covid) = (hit("J12.82", COVID_PNEUMONIA), hit("U07.1", COVID));
        assert!(goes_before(&covid, &pneumonia) && !goes_before(&pneumonia, &covid));
        // Only a code's own "Code first" note says so, not a note to add another code.
        assert!(says_code_first(&covid, &pneumonia) && !says_code_first(&pneumonia, &covid));
        assert!(!says_code_first(&uti, &ecoli) && !says_code_first(&ecoli, &uti));
        // The later code moves right before the one it precedes; the others keep their order.
        let other = hit("R50.9", "ICD-10-CM R50.9: Fever, unspecified");
        assert_eq!(in_tabular_order(&[ecoli, other, uti], |_, _| true), [2, 0, 1]);
        let (ecoli, other, uti) = (hit("B96.20", ECOLI), hit("R50.9", ""), hit("N39.0", UTI));
        assert_eq!(in_tabular_order(&[ecoli, other, uti], |_, _| false), [0, 1, 2], "only where allowed");
        // Several codes that each precede one: only the first passes it.
        let insulin = hit("Z79.4", "ICD-10-CM Z79.4: Long term (current) use of insulin");
        let dm = "ICD-10-CM E11.9: Type 2 diabetes mellitus without complications\nUse additional code: to identify control using insulin (Z79.4)";
        let hits = [insulin, hit("E11.9", dm), hit("E11.A", dm)];
        assert_eq!(in_tabular_order(&hits, |_, _| true), [1, 0, 2]);
        assert!(never_first(CodeSystem::Icd10Cm, "B96.20", "Unspecified Escherichia coli [E. coli] as the cause of diseases classified elsewhere"));
        assert!(!never_first(CodeSystem::Icd10Cm, "Z79.4", "Long term (current) use of insulin"));
    }

    #[test]
    fn a_drug_s_adverse_effect_and_underdosing_come_after_the_condition() {
        let effect = hit("T46.5X5A", "ICD-10-CM T46.5X5A: Adverse effect of other antihypertensive drugs, initial encounter");
        let (dizzy, injury) = (hit("R42", "ICD-10-CM R42: Dizziness and giddiness"), hit("W19.XXXA", "ICD-10-CM W19.XXXA: Unspecified fall, initial encounter"));
        assert!(goes_before(&dizzy, &effect) && !goes_before(&effect, &dizzy) && !goes_before(&injury, &effect));
        assert!(!goes_before(&hit("A4663", "HCPCS A4663: Dialysis blood pressure cuff"), &effect), "an HCPCS code is no condition");
        let below = Noted::new(CodeSystem::Icd10Cm, "T46.5X5A", "Adverse effect of other antihypertensive drugs, initial encounter", "", false);
        assert!(!goes_before(&dizzy, &below), "another answer's effect keeps its place");
        assert_eq!(in_tabular_order(&[effect, injury, dizzy], |_, _| true), [2, 0, 1]);
        let poisoning = hit("T46.5X1A", "ICD-10-CM T46.5X1A: Poisoning by other antihypertensive drugs, accidental (unintentional), initial encounter");
        assert!(!goes_before(&hit("R42", "ICD-10-CM R42: Dizziness and giddiness"), &poisoning), "a poisoning is coded first");
    }

    #[test]
    fn an_external_cause_comes_after_the_injury() {
        let ladder = hit("W11.XXXA", "ICD-10-CM W11.XXXA: Fall on and from ladder, initial encounter");
        let wrist = hit("S52.502A", "ICD-10-CM S52.502A: Unspecified fracture of the lower end of left radius, initial encounter for closed fracture");
        assert!(goes_before(&wrist, &ladder) && !goes_before(&ladder, &wrist));
        assert!(!goes_before(&hit("R42", "ICD-10-CM R42: Dizziness and giddiness"), &ladder), "a symptom is no injury it explains");
        let below = Noted::new(CodeSystem::Icd10Cm, "W11.XXXA", "Fall on and from ladder, initial encounter", "", false);
        assert!(!goes_before(&wrist, &below), "another answer's external cause keeps its place");
        assert!(never_first(CodeSystem::Icd10Cm, "W11.XXXA", "Fall on and from ladder, initial encounter"));
        assert!(!never_first(CodeSystem::Hcpcs, "V2020", "Vision svcs frames purchases"), "an HCPCS V code is no external cause");
        assert_eq!(in_tabular_order(&[ladder, hit("Z91.81", "ICD-10-CM Z91.81: History of falling"), wrist], |_, _| true), [2, 0, 1]);
    }

    #[test]
    fn odd_notes_do_not_panic() {
        for text in ["Code first: (", "Code first: ()", "Code first: (-)", "Code first: (A-)", "Use additional code: (é-ü, Z-, 9.-)", "Code first: ((B95-))"] {
            let _ = references(text, "Code first");
            let _ = references(text, "Use additional code");
        }
    }
}
