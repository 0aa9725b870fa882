//! The words of each reply, in plain text and HTML: an answer (its cited codes linked to
//! their pages, unverified ones marked, by `chat::render`), a spent quota, an invitation to
//! register, a question that could not be read, an answer that failed.

use crate::chat::render::{escape_html, html_answer, html_footer, plain_footer};
use crate::chat::Collected;

/// A reply's two bodies.
pub struct Bodies {
    pub text: String,
    pub html: String,
}

const CLOSING: &str = "codecite checks every code it names against its code tables; a code marked NOT VERIFIED is in none of them. Check payer rules before you bill.";

fn html_page(inner: &str, public_url: &str) -> String {
    let url = escape_html(public_url);
    format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; line-height: 1.45\">\n{inner}<hr>\n<p style=\"color:#555\">{}<br><a href=\"{url}\">{url}</a></p>\n</body></html>\n",
        escape_html(CLOSING)
    )
}

fn plain_page(inner: &str, public_url: &str) -> String {
    format!("{}\n\n-- \n{CLOSING}\n{public_url}\n", inner.trim_end())
}

/// The answer, its sources and cited codes, what is left of the quota, and how to follow up.
pub fn answer(collected: &Collected, remaining: Option<i64>, public_url: &str) -> Bodies {
    let c = collected;
    let left = match remaining {
        Some(n) => format!("You have {n} question{} left in this period.", if n == 1 { "" } else { "s" }),
        None => String::new(),
    };
    let follow_up = "Reply to this email to ask a follow-up question in the same conversation.";
    let text = format!("{}{}\n\n{follow_up} {left}", c.text.trim_end(), plain_footer(&c.text, &c.sources, &c.citations, public_url));
    let html = format!(
        "{}{}<p>{} {}</p>\n",
        html_answer(&c.text, &c.citations, public_url),
        html_footer(&c.text, &c.sources, &c.citations, public_url),
        escape_html(follow_up),
        escape_html(&left)
    );
    Bodies { text: plain_page(&text, public_url), html: html_page(&html, public_url) }
}

/// Plain paragraphs, in both forms.
pub fn notice(paragraphs: &[String], public_url: &str) -> Bodies {
    let text = paragraphs.join("\n\n");
    let html: String = paragraphs.iter().map(|p| format!("<p>{}</p>\n", escape_html(p))).collect();
    Bodies { text: plain_page(&text, public_url), html: html_page(&html, public_url) }
}

/// The quota is spent: what it was, and how to get more. Nothing was charged.
pub fn exhausted(message: &str, public_url: &str) -> Bodies {
    notice(
        &[
            "Your question was not answered, and nothing was charged.".into(),
            message.replace("(POST /api/register)", "").replace("  ", " "),
            format!("Sign in at {public_url}/ to see your plan, or upgrade for more questions."),
        ],
        public_url,
    )
}

/// An address that is no verified account's.
pub fn invitation(address: &str, public_url: &str) -> Bodies {
    notice(
        &[
            "Thank you for writing to codecite, the coding assistant that cites and checks every code it names.".into(),
            format!(
                "Questions by email are answered for registered accounts whose email address is verified, and {address} is not one yet. \
                 Register a free account with this address at {public_url}/ and ask us to verify it; then send your question again."
            ),
            "This is the only reply this address gets from us for a while; no other message you send meanwhile is answered.".into(),
        ],
        public_url,
    )
}

/// A question that could not be asked (empty, too long); nothing was charged.
pub fn refused(why: &str, public_url: &str) -> Bodies {
    notice(&[format!("Your message could not be answered: {why}."), "Nothing was charged. Please write your question again.".into()], public_url)
}

/// An answer that failed on our side; nothing was charged.
pub fn failed(why: &str, public_url: &str) -> Bodies {
    notice(&[format!("codecite could not answer your question just now: {why}."), "Nothing was charged. Please send it again later.".into()], public_url)
}

/// `Re:` and the subject (once).
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    if s.is_empty() {
        "Re: your coding question".into()
    } else if s.to_ascii_lowercase().starts_with("re:") {
        s.to_string()
    } else {
        format!("Re: {s}")
    }
}
