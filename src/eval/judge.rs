//! An LLM judge of faithfulness: the share of an answer's claims that its sources support,
//! asked of the configured OpenAI-compatible model and averaged over several runs, because a
//! single judgement is noisy.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
use async_openai::Client;
use minijinja::{context, Environment};
use serde::Deserialize;

use crate::llm::client::{openai_client, Wait};
use crate::config::LlmConfig;

const TEMPLATE: &str = include_str!("../../prompts/judge.md");

pub struct Judge {
    client: Client<OpenAIConfig>,
    model: String,
    runs: usize,
}

#[derive(Deserialize)]
struct Verdict {
    claims: f64,
    supported: f64,
}

/// The first `{…}` in a reply, parsed: models wrap JSON in prose or code fences.
fn verdict(reply: &str) -> Option<Verdict> {
    let start = reply.find('{')?;
    let end = reply.rfind('}')?;
    serde_json::from_str(&reply[start..=end]).ok()
}

impl Judge {
    pub fn new(config: &LlmConfig, runs: usize) -> Option<Self> {
        let base = config.base_url.as_deref()?;
        // A judgement is one short non-streamed completion.
        let wait = Wait::Total(Duration::from_secs_f64(config.timeout_secs.max(1.0) * 4.0));
        let client = openai_client(base, config.api_key.as_deref(), wait);
        Some(Self { client, model: config.model.clone(), runs: runs.max(1) })
    }

    pub fn prompt(sources: &[(usize, String)], answer: &str) -> String {
        #[derive(serde::Serialize)]
        struct S<'a> {
            n: usize,
            text: &'a str,
        }
        let sources: Vec<S> = sources.iter().map(|(n, text)| S { n: *n, text }).collect();
        let mut env = Environment::new();
        env.add_template("judge", TEMPLATE).expect("prompts/judge.md is a valid template");
        env.get_template("judge")
            .expect("registered")
            .render(context! { sources => sources, answer => answer })
            .expect("the judge template renders")
    }

    /// Mean supported/claims over the runs that returned a usable verdict; `None` if none did.
    /// An answer with no claims (a plain refusal) is fully faithful.
    pub async fn faithfulness(&self, sources: &[(usize, String)], answer: &str) -> anyhow::Result<Option<f64>> {
        let prompt = Self::prompt(sources, answer);
        let mut scores = vec![];
        for _ in 0..self.runs {
            let request = CreateChatCompletionRequestArgs::default()
                .model(&self.model)
                .temperature(0.7)
                .messages([ChatCompletionRequestUserMessageArgs::default().content(prompt.clone()).build()?.into()])
                .build()?;
            let response = self.client.chat().create(request).await?;
            let reply = response.choices.first().and_then(|c| c.message.content.clone()).unwrap_or_default();
            if let Some(v) = verdict(&reply) {
                scores.push(if v.claims <= 0.0 { 1.0 } else { (v.supported / v.claims).clamp(0.0, 1.0) });
            }
        }
        Ok((!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_found_in_chatty_replies() {
        let v = verdict("Sure!\n```json\n{\"claims\": 4, \"supported\": 3}\n```").unwrap();
        assert_eq!((v.claims, v.supported), (4.0, 3.0));
        assert!(verdict("no idea").is_none());
    }

    #[test]
    fn the_prompt_numbers_the_sources() {
        let p = Judge::prompt(&[(1, "J1885: ketorolac".into())], "J1885 is ketorolac [1].");
        assert!(p.contains("[1] J1885: ketorolac"));
        assert!(p.contains("Answer:\nJ1885 is ketorolac [1]."));
    }
}
