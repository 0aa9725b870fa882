//! The HTTP API through the real router.

use axum::http::StatusCode;
use codecite::app::prepare;

use crate::helpers::{codes_of, urlencode, TestApp};

#[tokio::test]
async fn health_then_readiness_after_ingest() {
    let app = TestApp::unprepared().await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    let (status, _) = app.get("/api/search?q=diabetes").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    prepare(&app.state, false).await.unwrap();
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["chunks"].as_u64().unwrap() >= 76, "{body}");
}

#[tokio::test]
async fn description_finds_its_code_in_the_top_three() {
    let app = TestApp::spawn().await;
    let codes = app.search_codes("type 2 diabetes without complications").await;
    let pos = codes.iter().position(|c| c == "E11.9");
    assert!(pos.is_some_and(|p| p < 3), "E11.9 not in the top 3: {codes:?}");
}

#[tokio::test]
async fn named_codes_rank_first_in_any_spelling() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/search?q=J1885").await;
    assert_eq!(status, StatusCode::OK);
    let first = &body["hits"][0];
    assert_eq!(first["code"], "J1885");
    assert_eq!(first["system"], "HCPCS");
    assert_eq!(first["match"], "exact");
    for field in ["codes", "title", "snippet", "score", "source"] {
        assert!(!first[field].is_null(), "hit lacks {field}: {first}");
    }
    assert_eq!(app.search_codes("e119").await[0], "E11.9", "ICD-10-CM without the dot");
    assert_eq!(app.search_codes("s72.001a").await[0], "S72.001A", "lower case with the dot");
    let codes = app.search_codes("can 99213 be billed with modifier 25 and 20610").await;
    assert_eq!(&codes[..3], ["99213", "25", "20610"], "named codes keep the order of the question");
    // A named code the question sets aside, or of another system than the one it asks for, is
    // what it is about: the best hit of the search comes first, the named code right after it.
    let codes = app.search_codes("medicare flu shot, the admin code? not 90471").await;
    assert_eq!(&codes[..2], ["G0008", "90471"], "{codes:?}");
    // Nor are the codes only a set-aside code points to (99417's primaries) answers.
    let codes = app.search_codes("medicare prolonged office visit code, not 99417").await;
    assert_eq!(codes[0], "G2212", "{codes:?}");
    assert!(codes.iter().position(|c| c == "99205").is_none_or(|p| p > 1), "{codes:?}");
    // "Instead of" sets a code aside too; and a named code whose title is not of the kind asked
    // for ("what prolonged code") is what the question is about.
    let codes = app.search_codes("medicare pt, 99215 on time, total 70 min. which prolonged code does cms want instead of 99417").await;
    assert_eq!(codes[0], "G2212", "{codes:?}");
    assert!(codes.iter().position(|c| c == "99215").is_some_and(|p| p > 0), "{codes:?}");
    let codes = app.search_codes("medicare pt, 99215 on time, total 70 min. what prolonged code do i add").await;
    assert!(["G2212", "99417"].contains(&codes[0].as_str()) && codes[1] == "99215", "{codes:?}");
    // A named code that is no add-on, where the question asks for one.
    let codes = app.search_codes("extra 15 min beyond a 99215").await;
    assert_eq!(&codes[..2], ["99417", "99215"], "{codes:?}");
    let codes = app.search_codes("is 99215 the right code for 45 minutes").await;
    assert_eq!(codes[0], "99215", "nothing of a kind asked: the named code comes first ({codes:?})");
    let codes = app.search_codes("what modifier goes on the 99213 when a procedure was done the same day").await;
    assert!(["25", "59"].contains(&codes[0].as_str()) && codes[1] == "99213", "{codes:?}");
    let codes = app.search_codes("can 99213 go with modifier 25").await;
    assert_eq!(&codes[..2], ["99213", "25"], "a question that names a code of the system it asks keeps the order");
}

#[tokio::test]
async fn an_everyday_name_finds_its_code() {
    let app = TestApp::spawn().await;
    // L3908's short descriptor says "Who cock-up nonmolde pre ots"; its everyday name says "wrist splint".
    let codes = app.search_codes("wrist splint").await;
    assert_eq!(codes.first().map(String::as_str), Some("L3908"), "{codes:?}");
}

#[tokio::test]
async fn a_named_codes_links_come_right_after_it() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/search?q=what+replaced+75946").await;
    assert_eq!(status, StatusCode::OK);
    // The question asks for the replacement: it comes first, then the code named.
    let hits = body["hits"].as_array().unwrap();
    assert_eq!((hits[0]["code"].as_str(), hits[0]["match"].as_str()), (Some("37253"), Some("linked")), "the replacement: {body}");
    assert_eq!((hits[1]["code"].as_str(), hits[1]["match"].as_str()), (Some("75946"), Some("exact")));
    // Asked about the deleted code itself, it comes first and its replacement next.
    let (_, body) = app.get("/api/search?q=when+was+75946+deleted").await;
    let codes: Vec<&str> = body["hits"].as_array().unwrap()[..2].iter().map(|h| h["code"].as_str().unwrap_or("-")).collect();
    assert_eq!(codes, ["75946", "37253"], "{body}");
    // A question that describes the service beside a deleted code is about billing it now; one
    // that asks what became of the code, or names the code alone, is about the code.
    let codes = app.search_codes("75946 got rejected, ivus on another vessel").await;
    assert_eq!(codes[..2], ["37253", "75946"], "{codes:?}");
    let codes = app.search_codes("75946 still valid for ivus on another vessel?").await;
    assert_eq!(codes[..2], ["75946", "37253"], "{codes:?}");
    assert_eq!(app.search_codes("75946").await[..2], ["75946", "37253"]);
    // A deleted code is not billed: "what do I use" asks for its replacement.
    let codes = app.search_codes("75946 deleted, what do i use").await;
    assert_eq!(codes[..2], ["37253", "75946"], "{codes:?}");
    // So is a code said to be gone in other words, unless the question asks what became of it.
    let codes = app.search_codes("75946 no longer works for us").await;
    assert_eq!(codes[..2], ["37253", "75946"], "{codes:?}");
    let codes = app.search_codes("is 75946 still gone").await;
    assert_eq!(codes[..2], ["75946", "37253"], "{codes:?}");
    // Every code the question names keeps a place when what they point to fills the limit:
    // the replacements asked for come first, then the named codes, the last replacement out.
    let (_, body) = app.get("/api/search?q=75946+and+99201+are+deleted,+what+do+i+use&limit=3").await;
    let codes: Vec<&str> = body["hits"].as_array().unwrap().iter().map(|h| h["code"].as_str().unwrap_or("-")).collect();
    assert_eq!(codes, ["37253", "75946", "99201"], "{body}");
    let (_, body) = app.get("/api/search?q=75946+and+99201+are+deleted,+what+do+i+use&limit=4").await;
    let codes: Vec<&str> = body["hits"].as_array().unwrap().iter().map(|h| h["code"].as_str().unwrap_or("-")).collect();
    assert_eq!(codes, ["37253", "99202", "75946", "99201"], "{body}");
    // A deleted code told in words and asked to be replaced: its replacement first, then it;
    // told only as gone, the deleted code is what is asked.
    let codes = app.search_codes("the lowest level new patient office visit was deleted, what do i use now").await;
    assert_eq!(codes[..2], ["99202", "99201"], "{codes:?}");
    let codes = app.search_codes("the lowest level new patient office visit that was deleted").await;
    assert_eq!(codes[0], "99201", "{codes:?}");
    // An add-on's primary, asked for, comes first.
    let codes = app.search_codes("whats the primary code for 99292").await;
    assert_eq!(codes[..2], ["99291", "99292"], "{codes:?}");
    // The fixture holds 90471 of 90472's three primaries; the others have no record to show.
    let (_, body) = app.get("/api/search?q=is+90472+an+add-on+code").await;
    let kinds: Vec<(&str, &str)> = body["hits"].as_array().unwrap()[..3].iter().map(|h| (h["code"].as_str().unwrap_or("-"), h["match"].as_str().unwrap())).collect();
    assert_eq!(kinds[..2], [("90472", "exact"), ("90471", "linked")], "an add-on's primary: {body}");
    assert_eq!(kinds[2].1, "search");
    // A question for add-ons gets the named code's add-ons, which point to it, first (37252 is
    // an add-on itself, and the primary of 37253); without the word, the code's passage and the
    // search's hits follow it.
    let (_, body) = app.get("/api/search?q=what+add-on+goes+with+37252").await;
    let kinds: Vec<(&str, &str)> = body["hits"].as_array().unwrap()[..2].iter().map(|h| (h["code"].as_str().unwrap_or("-"), h["match"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("37253", "linked"), ("37252", "exact")], "a primary's add-on: {body}");
    let (_, body) = app.get("/api/search?q=is+37252+an+add-on").await;
    assert_eq!(body["hits"][0]["code"], "37252", "asked about the code itself: {body}");
    let (_, body) = app.get("/api/search?q=how+is+37252+documented").await;
    assert!(body["hits"].as_array().unwrap().iter().all(|h| h["match"] != "linked"), "no add-on unasked: {body}");
    // A code the question names itself is not repeated as a link.
    let codes = app.search_codes("75946 and 37253").await;
    assert_eq!(codes.iter().filter(|c| *c == "37253").count(), 1, "{codes:?}");
    // The limit holds with links.
    let (_, body) = app.get("/api/search?q=is+90472+an+add-on&limit=2").await;
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_add_ons_asked_for_come_in_the_order_their_titles_answer() {
    let app = TestApp::spawn().await;
    // 99215 has two add-ons; the question's words choose between them, whichever it names first.
    let codes = app.search_codes("99215, what add-on for the prolonged E/M time beyond the highest level").await;
    assert_eq!(&codes[..2], ["99417", "99415"], "{codes:?}");
    let codes = app.search_codes("99215, what add-on for the clinical staff time with the patient, first hour").await;
    assert_eq!(&codes[..2], ["99415", "99417"], "{codes:?}");
}

#[tokio::test]
async fn a_question_for_several_codes_gets_what_its_best_code_leaves_second() {
    let app = TestApp::spawn().await;
    // The best code, the knee's status, leaves "aftercare": the code that answers it comes second.
    let codes = app.search_codes("aftercare visit s/p right total knee replacement dx codes").await;
    assert_eq!(&codes[..2], ["Z96.651", "Z47.1"], "{codes:?}");
    // Asked for one code, the rank-1 stage's order stands: the status first, aftercare far down.
    let one = app.search_codes("status post right total knee, aftercare, dx code").await;
    assert_eq!(one[0], "Z96.651", "{one:?}");
    assert!(one.iter().position(|c| c == "Z47.1").is_none_or(|at| at > 4), "{one:?}");
    let two = app.search_codes("status post right total knee, aftercare, dx codes").await;
    assert_eq!(&two[..2], ["Z96.651", "Z47.1"], "{two:?}");
}

#[tokio::test]
async fn several_codes_for_several_of_one_service_are_the_primary_and_its_add_on() {
    let app = TestApp::spawn().await;
    // Two injections: the first vaccine's administration, then each further one's.
    let codes = app.search_codes("commercial plan, flu vaccine given with an IM antibiotic shot, 2 injections, which codes").await;
    assert_eq!(&codes[..2], ["90471", "90472"], "{codes:?}");
}

#[tokio::test]
async fn a_question_for_what_goes_first_gets_the_tabulars_order() {
    let app = TestApp::spawn().await;
    // I50.9 says "Code first: heart failure due to hypertension (I11.0)"; I11.0 says to add the
    // type of heart failure (I50.-).
    // Without the tabular's order the words put I50.9 first.
    let asked = app.search_codes("heart failure, unspecified, from his high blood pressure - code first?").await;
    let (i11, i50) = (asked.iter().position(|c| c == "I11.0"), asked.iter().position(|c| c == "I50.9"));
    assert!(i11.is_some() && i50.is_some() && i11 < i50, "{asked:?}");
    assert_eq!(asked[0], "I11.0", "{asked:?}");
    // Unasked, the note of I50.9 still puts I11.0 first when the question names what I11.0
    // adds (the hypertension).
    let named = app.search_codes("heart failure, unspecified, due to hypertension").await;
    assert_eq!(&named[..2], ["I11.0", "I50.9"], "{named:?}");
}

#[tokio::test]
async fn a_rules_question_gets_the_passage_then_the_codes_it_is_about() {
    let app = TestApp::spawn().await;
    let codes = app.search_codes("what are the rules for billing the visit when the doctor also injected the knee joint that day").await;
    // The modifier 25 passage, then its codes (the knee injection, the visit levels, 25), before
    // any other passage.
    assert_eq!(codes[0], "-", "{codes:?}");
    let about = ["25", "99212", "99213", "99214", "99215", "20610", "96372"];
    assert!(about.contains(&codes[1].as_str()), "{codes:?}");
}

#[tokio::test]
async fn system_filter_applies_to_every_hit() {
    let app = TestApp::spawn().await;
    for system in ["HCPCS", "ICD10CM", "CPT", "GUIDELINE"] {
        let (status, body) = app.get(&format!("/api/search?q=diabetes+injection+visit&limit=20&system={system}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hits = body["hits"].as_array().unwrap();
        assert!(!hits.is_empty(), "no {system} hits");
        assert!(hits.iter().all(|h| h["system"] == system), "{system}: {body}");
    }
    // A code named in the query but outside the filter is not returned.
    let (_, body) = app.get("/api/search?q=J1885&system=ICD10CM").await;
    assert!(!codes_of(&body).contains(&"J1885".to_string()));
    let (status, body) = app.get("/api/search?q=x&system=icd-10-cm").await;
    assert_eq!(status, StatusCode::OK, "systems parse loosely: {body}");
}

#[tokio::test]
async fn lexicon_expands_abbreviations_and_lay_words() {
    let app = TestApp::spawn().await;
    let bare = TestApp::unprepared().await;
    std::fs::remove_dir_all(bare.corpus().join("lexicon")).unwrap();
    let bare = bare.restart().await;
    assert!(bare.services().retriever.lexicon().is_empty());

    let rank = |codes: &[String], code: &str| codes.iter().position(|c| c == code).unwrap_or(usize::MAX);
    // (Not "lap chole": the fused ranking finds the cholecystectomy without any lexicon.)
    for (query, code) in [("toradol", "J1885"), ("HTN", "I10")] {
        let with = app.search_codes(query).await;
        let without = bare.search_codes(query).await;
        assert_eq!(rank(&with, code), 0, "{query}: {code} should rank first with the lexicon: {with:?}");
        assert!(rank(&without, code) > 0, "{query}: the lexicon made no difference: {without:?}");
    }
}

#[tokio::test]
async fn a_modifier_s_situation_told_in_words_finds_the_modifier() {
    let question = "knee injection done at the hospital, which bills just the equipment part";
    let bare = TestApp::spawn().await;
    let without = bare.search_codes(question).await;
    let app = TestApp::unprepared().await;
    std::fs::write(app.corpus().join("lexicon").join(codecite::retrieval::MODIFIER_FILE), "equipment part\ttechnical component\n").unwrap();
    let app = app.restart().await;
    let with = app.search_codes(question).await;
    assert_eq!(with.first().map(String::as_str), Some("TC"), "{with:?}");
    assert_ne!(without.first().map(String::as_str), Some("TC"), "the modifier file made no difference: {without:?}");
}

#[tokio::test]
async fn an_adverse_effect_goes_after_its_nature_when_the_order_is_asked() {
    let app = TestApp::unprepared().await;
    let codes = app.corpus().join("codes").join("icd10cm.jsonl");
    let mut text = std::fs::read_to_string(&codes).unwrap();
    for (code, title) in [("R42", "Dizziness and giddiness"), ("T46.5X5A", "Adverse effect of other antihypertensive drugs, initial encounter")] {
        text.push_str(&serde_json::json!({ "code": code, "system": "ICD10CM", "title": title, "source": "ICD-10-CM (test)" }).to_string());
        text.push('\n');
    }
    std::fs::write(&codes, text).unwrap();
    let app = app.restart().await;
    let found = app.search_codes("adverse effect of her antihypertensive drug, she got dizzy").await;
    assert_eq!(found.first().map(String::as_str), Some("T46.5X5A"), "{found:?}");
    let ordered = app.search_codes("adverse effect of her antihypertensive drug, she got dizzy, what code goes first?").await;
    assert_eq!(ordered[..2], ["R42", "T46.5X5A"], "the nature of the effect first: {ordered:?}");
}

#[tokio::test]
async fn rankings_are_stable_across_calls() {
    let app = TestApp::spawn().await;
    for q in ["diabetes", "office visit", "injection", "fracture of femur"] {
        let uri = format!("/api/search?q={}&limit=15", urlencode(q));
        let (_, a) = app.get(&uri).await;
        let (_, b) = app.get(&uri).await;
        assert_eq!(a, b, "{q}");
        let scores: Vec<f64> = a["hits"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]) || a["hits"][0]["match"] == "exact", "{q}: {scores:?}");
    }
}

#[tokio::test]
async fn search_modes_each_return_results() {
    let app = TestApp::spawn().await;
    for mode in ["hybrid", "dense", "bm25"] {
        let (status, body) = app.get(&format!("/api/search?q=heart+failure&mode={mode}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(codes_of(&body).contains(&"I50.9".to_string()), "{mode}: {body}");
    }
    let (status, body) = app.get("/api/search?q=x&mode=magic").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("magic"));
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(2001);
    let cases = [
        ("/api/search", StatusCode::BAD_REQUEST, "empty"),
        ("/api/search?q=", StatusCode::BAD_REQUEST, "empty"),
        ("/api/search?q=+++", StatusCode::BAD_REQUEST, "empty"),
        (&format!("/api/search?q={long}") as &str, StatusCode::BAD_REQUEST, "2001 characters"),
        ("/api/search?q=x&limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/api/search?q=x&limit=500", StatusCode::BAD_REQUEST, "limit"),
        ("/api/search?q=x&limit=ten", StatusCode::BAD_REQUEST, "not a number"),
        ("/api/search?q=x&system=CDT", StatusCode::BAD_REQUEST, "CDT"),
        ("/api/codes/Z99999999", StatusCode::NOT_FOUND, "no code"),
        ("/api/codes/99999", StatusCode::NOT_FOUND, "no code"),
        ("/api/codes/D0120", StatusCode::NOT_FOUND, "no code"),
        ("/api/codes/%3Cscript%3E", StatusCode::BAD_REQUEST, "not shaped like a code"),
        ("/no/such/route", StatusCode::NOT_FOUND, "no such route"),
    ];
    for (uri, status, needle) in cases {
        let (got, body) = app.get(uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("{uri}: no error message in {body}"));
        assert!(message.contains(needle), "{uri}: {message:?} lacks {needle:?}");
    }
    let exactly = "a".repeat(2000);
    let (status, _) = app.get(&format!("/api/search?q={exactly}")).await;
    assert_eq!(status, StatusCode::OK, "2,000 characters is still accepted");
}

#[tokio::test]
async fn code_records_carry_their_relationships() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/codes/37253").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["addon"], true);
    assert_eq!(body["primary_codes"], serde_json::json!(["37252"]));
    assert_eq!(body["replaces"], serde_json::json!(["75946"]));

    let (_, body) = app.get("/api/codes/37252").await;
    assert_eq!(body["addon_codes"], serde_json::json!(["37253"]), "{body}");

    let (_, body) = app.get("/api/codes/75946").await;
    assert_eq!(body["deleted_year"], 2016);
    assert_eq!(body["replaced_by"], serde_json::json!(["37253"]));

    let (status, body) = app.get("/api/codes/e119").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["code"], "E11.9");
    assert_eq!(body["system"], "ICD10CM");
    assert!(body["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().starts_with("Excludes1")));
}
