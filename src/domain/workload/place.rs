//! Where the workload should run: a cloud region id, a continent, a country.

use super::Draft;
use crate::domain::location;

/// First parts of AWS/GCP-style region ids.
const GEO_PREFIXES: &[&str] = &[
    "us",
    "eu",
    "europe",
    "asia",
    "ap",
    "ca",
    "sa",
    "me",
    "af",
    "africa",
    "uk",
    "northamerica",
    "southamerica",
    "australia",
];

/// Second parts of region ids, trailing digits dropped.
const DIRECTIONS: &[&str] = &[
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "northcentral",
    "southcentral",
    "westcentral",
];

/// Continent words (space-separated, lower-case) and codes.
const CONTINENTS: &[(&str, &str)] = &[
    ("north america", "NA"),
    ("northamerica", "NA"),
    ("south america", "SA"),
    ("latin america", "SA"),
    ("southamerica", "SA"),
    ("latam", "SA"),
    ("eu", "EU"),
    ("europe", "EU"),
    ("european", "EU"),
    ("asia", "AS"),
    ("asian", "AS"),
    ("apac", "AS"),
    ("asia-pacific", "AS"),
    ("oceania", "OC"),
    ("africa", "AF"),
    ("african", "AF"),
];

/// Finds region ids ("us-east-1", "eu-west", "europe-west4") and fills in the continent
/// and country they state.
pub(super) fn regions(draft: &mut Draft) {
    for i in 0..draft.words.len() {
        if !draft.free(i, i + 1) || !is_region(draft.lower(i)) {
            continue;
        }
        let region = draft.lower(i).to_owned();
        draft.take(i, i + 1);
        let place = location::locate(&region);
        let notes = &mut draft.notes;
        notes.set(&mut draft.spec.region, region.clone(), "region", &region);
        let implied = format!("(implied by region {region})");
        if let Some(code) = place.continent {
            let shown = format!("{code} {implied}");
            notes.set(
                &mut draft.spec.continent,
                code.to_owned(),
                "continent",
                &shown,
            );
        }
        if let Some(code) = place.country {
            let shown = format!("{code} {implied}");
            notes.set(&mut draft.spec.country, code, "country", &shown);
        }
    }
}

/// `geo-direction[-N]`, the direction possibly with digits glued on ("west4").
fn is_region(word: &str) -> bool {
    let mut parts = word.split('-');
    let geo = parts.next().unwrap_or_default();
    let Some(direction) = parts.next() else {
        return false;
    };
    let direction = direction.trim_end_matches(|c: char| c.is_ascii_digit());
    let rest: Vec<&str> = parts.collect();
    GEO_PREFIXES.contains(&geo)
        && DIRECTIONS.contains(&direction)
        && rest.len() <= 1
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Finds continents and countries: "in the EU", "europe", "north america", "Germany",
/// "the US", "new zealand". A country also sets its continent.
pub(super) fn locations(draft: &mut Draft) {
    let mut i = 0;
    while i < draft.words.len() {
        match place_at(draft, i) {
            Some((end, continent, country)) => {
                let text = draft.text(i, end);
                draft.take(i, end);
                record(draft, &text, continent, country);
                i = end;
            }
            None => i += 1,
        }
    }
}

/// The place named by the two or one words at `i`: (end, continent, country).
fn place_at(draft: &Draft, i: usize) -> Option<(usize, &'static str, Option<String>)> {
    for len in [2, 1] {
        let end = i + len;
        if !draft.free(i, end) {
            continue;
        }
        let words: Vec<&str> = (i..end).map(|k| draft.lower(k)).collect();
        let phrase = words.join(" ");
        if let Some((_, code)) = CONTINENTS.iter().find(|(p, _)| *p == phrase) {
            return Some((end, code, None));
        }
        if is_united_states(draft, i, &phrase) {
            return Some((end, "NA", Some("US".to_owned())));
        }
        let joined = words.concat();
        let country_word = joined.chars().all(char::is_alphabetic)
            && (joined.len() >= 4 || ["uk", "uae"].contains(&joined.as_str()));
        if !country_word {
            continue;
        }
        let place = location::locate(&joined);
        if let (Some(country), Some(continent)) = (place.country, place.continent) {
            return Some((end, continent, Some(country)));
        }
    }
    None
}

/// "usa", "united states", "america", "U.S.", and "us" when written "US" or after "in"/"the".
fn is_united_states(draft: &Draft, i: usize, phrase: &str) -> bool {
    match phrase {
        "usa" | "u.s" | "u.s.a" | "united states" | "america" => true,
        "us" => {
            let raw = draft.words.get(i).map_or("", |w| w.raw.as_str());
            let before = i.checked_sub(1).map_or("", |p| draft.lower(p));
            raw == "US" || ["in", "the"].contains(&before)
        }
        _ => false,
    }
}

fn record(draft: &mut Draft, text: &str, continent: &str, country: Option<String>) {
    let notes = &mut draft.notes;
    match country {
        Some(code) => {
            let shown = format!("{code} (\"{text}\")");
            notes.set(&mut draft.spec.country, code, "country", &shown);
            let shown = format!("{continent} (implied by \"{text}\")");
            notes.set(
                &mut draft.spec.continent,
                continent.to_owned(),
                "continent",
                &shown,
            );
        }
        None => {
            let shown = format!("{continent} (\"{text}\")");
            notes.set(
                &mut draft.spec.continent,
                continent.to_owned(),
                "continent",
                &shown,
            );
        }
    }
}
