//! Country and continent of a provider region, where the region name says so.
//!
//! Regions come as cloud ids (`us-east-1`, `europe-central-1`), city-country slugs
//! (`paris-france-1`), country codes (`FR`) or free text (`Texas, US`, `France, FR, EU`).
//! Nothing is guessed beyond what the name states: an unrecognised region has no country.

/// Where a region is, as far as its name tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// ISO 3166-1 alpha-2 code.
    pub country: Option<String>,
    /// `AF`, `AN`, `AS`, `EU`, `NA`, `OC` or `SA`.
    pub continent: Option<&'static str>,
}

/// ISO code, continent, and lowercase names used in region slugs.
const COUNTRIES: &[(&str, &str, &[&str])] = &[
    ("US", "NA", &["usa", "us", "unitedstates"]),
    ("CA", "NA", &["canada"]),
    ("MX", "NA", &["mexico"]),
    ("BR", "SA", &["brazil"]),
    ("CL", "SA", &["chile"]),
    ("AR", "SA", &["argentina"]),
    ("GB", "EU", &["uk", "unitedkingdom", "england", "london"]),
    ("IE", "EU", &["ireland"]),
    ("FR", "EU", &["france"]),
    ("DE", "EU", &["germany"]),
    ("NL", "EU", &["netherlands"]),
    ("BE", "EU", &["belgium"]),
    ("CH", "EU", &["switzerland"]),
    ("AT", "EU", &["austria"]),
    ("IT", "EU", &["italy"]),
    ("ES", "EU", &["spain"]),
    ("PT", "EU", &["portugal"]),
    ("PL", "EU", &["poland"]),
    ("CZ", "EU", &["czechia"]),
    ("SE", "EU", &["sweden"]),
    ("NO", "EU", &["norway"]),
    ("FI", "EU", &["finland"]),
    ("DK", "EU", &["denmark"]),
    ("IS", "EU", &["iceland"]),
    ("RO", "EU", &["romania"]),
    ("BG", "EU", &["bulgaria"]),
    ("GR", "EU", &["greece"]),
    ("HU", "EU", &["hungary"]),
    ("UA", "EU", &["ukraine"]),
    ("RU", "EU", &["russia"]),
    ("EE", "EU", &["estonia"]),
    ("LT", "EU", &["lithuania"]),
    ("LV", "EU", &["latvia"]),
    ("SK", "EU", &["slovakia"]),
    ("SI", "EU", &["slovenia"]),
    ("HR", "EU", &["croatia"]),
    ("RS", "EU", &["serbia"]),
    ("TR", "AS", &["turkey"]),
    ("IL", "AS", &["israel"]),
    ("AE", "AS", &["uae"]),
    ("SA", "AS", &["saudiarabia"]),
    ("IN", "AS", &["india"]),
    ("CN", "AS", &["china"]),
    ("HK", "AS", &["hongkong"]),
    ("TW", "AS", &["taiwan"]),
    ("JP", "AS", &["japan"]),
    ("KR", "AS", &["korea", "southkorea"]),
    ("SG", "AS", &["singapore"]),
    ("MY", "AS", &["malaysia"]),
    ("TH", "AS", &["thailand"]),
    ("VN", "AS", &["vietnam"]),
    ("ID", "AS", &["indonesia"]),
    ("PH", "AS", &["philippines"]),
    ("KZ", "AS", &["kazakhstan"]),
    ("AU", "OC", &["australia"]),
    ("NZ", "OC", &["newzealand"]),
    ("ZA", "AF", &["southafrica"]),
    ("NG", "AF", &["nigeria"]),
    ("KE", "AF", &["kenya"]),
    ("EG", "AF", &["egypt"]),
];

/// Cloud region prefixes that name only a continent (or a country).
const PREFIXES: &[(&str, Option<&str>, &str)] = &[
    ("us", Some("US"), "NA"),
    ("ca", Some("CA"), "NA"),
    ("northamerica", None, "NA"),
    ("southamerica", None, "SA"),
    ("sa", None, "SA"),
    ("eu", None, "EU"),
    ("europe", None, "EU"),
    ("asia", None, "AS"),
    ("ap", None, "AS"),
    ("me", None, "AS"),
    ("af", None, "AF"),
    ("africa", None, "AF"),
    ("australia", Some("AU"), "OC"),
];

const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Works out the country and continent a region name states.
pub fn locate(region: &str) -> Location {
    let region = region.trim();
    // "Texas, US" / "France, FR, EU": the last two-letter country code among the parts.
    if region.contains(',') {
        let parts: Vec<&str> = region.split(',').map(str::trim).collect();
        if let Some(found) = parts.iter().rev().find_map(|p| by_code(p)) {
            return found;
        }
        if let Some(found) = parts
            .iter()
            .rev()
            .find_map(|p| by_name(&p.to_lowercase().replace(' ', "")))
        {
            return found;
        }
        return Location::default();
    }
    if let Some(found) = (region.len() == 2).then(|| by_code(region)).flatten() {
        return found;
    }
    let lower = region.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(['-', '_', ' ', '/'])
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(found) = tokens.iter().skip(1).find_map(|t| by_name(t)) {
        return found;
    }
    if let Some(first) = tokens.first() {
        if let Some((_, country, continent)) = PREFIXES.iter().find(|(p, _, _)| p == first) {
            return Location {
                country: country.map(str::to_owned),
                continent: Some(continent),
            };
        }
        if let Some(found) = by_name(first) {
            return found;
        }
    }
    Location::default()
}

fn by_code(code: &str) -> Option<Location> {
    COUNTRIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(c, continent, _)| Location {
            country: Some((*c).to_owned()),
            continent: Some(continent),
        })
}

fn by_name(name: &str) -> Option<Location> {
    COUNTRIES
        .iter()
        .find(|(_, _, names)| names.contains(&name))
        .map(|(c, continent, _)| Location {
            country: Some((*c).to_owned()),
            continent: Some(continent),
        })
}

/// Whether `code` is one of the continent codes used here.
pub fn is_continent(code: &str) -> bool {
    CONTINENTS.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(region: &str) -> (Option<String>, Option<&'static str>) {
        let l = locate(region);
        (l.country, l.continent)
    }

    #[test]
    fn region_styles_resolve_to_what_they_state() {
        let some = |c: &str, k: &'static str| (Some(c.to_owned()), Some(k));
        assert_eq!(at("us-east-1"), some("US", "NA"));
        assert_eq!(at("europe-central-1"), (None, Some("EU")));
        assert_eq!(at("asia-northeast-1"), (None, Some("AS")));
        assert_eq!(at("australia-east-1"), some("AU", "OC"));
        assert_eq!(at("paris-france-1"), some("FR", "EU"));
        assert_eq!(at("kansascity-usa-6"), some("US", "NA"));
        assert_eq!(at("tokyo-japan-5"), some("JP", "AS"));
        assert_eq!(at("FR"), some("FR", "EU"));
        assert_eq!(at("Texas, US"), some("US", "NA"));
        assert_eq!(at("France, FR, EU"), some("FR", "EU"));
        assert_eq!(at("South Korea, KR"), some("KR", "AS"));
        assert_eq!(at("UTAH_USA"), some("US", "NA"));
    }

    #[test]
    fn unrecognised_regions_have_no_location() {
        assert_eq!(at("default"), (None, None));
        assert_eq!(at("unknown"), (None, None));
        assert_eq!(at("East Coast (NY2)"), (None, None));
        assert_eq!(at("ZZ"), (None, None));
        assert_eq!(at(""), (None, None));
        assert!(is_continent("EU") && !is_continent("XX"));
    }
}
