//! Passwords that are too common to allow: the entries of at least 10 characters (our
//! minimum) from the most frequent passwords in public breach corpora (the NCSC "100k
//! most used" and RockYou top lists), compared case-insensitively, plus a rule for one
//! repeated character. An offline list: the broker never sends passwords anywhere.

const COMMON: &[&str] = &[
    "0000000000",
    "0123456789",
    "0987654321",
    "1029384756",
    "1111111111",
    "1122334455",
    "1212121212",
    "1231231234",
    "123123123123",
    "1234512345",
    "1234554321",
    "1234567890",
    "12345678901",
    "123456789012",
    "1234567890a",
    "1234567891",
    "12345678910",
    "123456789a",
    "123456789q",
    "123qweasdzxc",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "1qazxsw23edc",
    "2222222222",
    "5555555555",
    "7777777777",
    "9876543210",
    "a123456789",
    "abc1234567",
    "abcd123456",
    "abcdefghij",
    "admin12345",
    "admin123456",
    "administrator",
    "baseball123",
    "changeme123",
    "computer123",
    "football123",
    "iloveyou12",
    "iloveyou123",
    "internet123",
    "letmein123",
    "passw0rd123",
    "password12",
    "password123",
    "password1234",
    "password12345",
    "password1!",
    "passwordpassword",
    "princess123",
    "q1w2e3r4t5",
    "q1w2e3r4t5y6",
    "qazwsxedcrfv",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "qwertyuiop",
    "qwertyuiop123",
    "starwars123",
    "sunshine123",
    "superman123",
    "welcome123",
    "welcome1234",
    "whatever123",
    "zaq12wsxcde3",
    "zxcvbnm123",
    "asdfghjkl123",
    "1qaz2wsx3edc4rfv",
    "gpubroker123",
    "gpubroker1234",
];

/// Why `password` is refused as too common, if it is.
pub fn too_common(password: &str) -> Option<&'static str> {
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Some("this password is one of the most common ones; choose another");
    }
    let mut chars = lower.chars();
    if let Some(first) = chars.next() {
        if chars.all(|c| c == first) {
            return Some("a password of one repeated character is too easy to guess");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_repeated_passwords_are_refused_case_insensitively() {
        assert!(too_common("Password123").is_some());
        assert!(too_common("QWERTYUIOP").is_some());
        assert!(too_common("zzzzzzzzzzzz").is_some());
        assert!(too_common("correct horse battery").is_none());
        assert!(COMMON
            .iter()
            .all(|p| p.chars().count() >= 10 && *p == p.to_lowercase()));
    }
}
