//! Parser tests: the documented examples, every operator, errors with positions.

use super::*;

fn parse(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn error(text: &str) -> QueryError {
    Query::parse(text).expect_err(text)
}

#[test]
fn the_documented_example_parses_into_filters_sort_and_limit() {
    let q = parse("gpu=H100 count>=8 price<30 region~us- provider in [lambda,runpod] vram>=80 sort=price_per_gpu limit=20");
    assert_eq!(q.filters.len(), 6);
    assert_eq!(
        q.filters[0],
        Filter {
            field: Field::Gpu,
            op: Op::Eq,
            value: Value::Text("H100".into())
        }
    );
    assert_eq!(
        q.filters[1],
        Filter {
            field: Field::Count,
            op: Op::Ge,
            value: Value::Number(8.0)
        }
    );
    assert_eq!(
        q.filters[2],
        Filter {
            field: Field::Price,
            op: Op::Lt,
            value: Value::Number(30.0)
        }
    );
    assert_eq!(
        q.filters[3],
        Filter {
            field: Field::Region,
            op: Op::Contains,
            value: Value::Text("us-".into())
        }
    );
    assert_eq!(
        q.filters[4],
        Filter {
            field: Field::Provider,
            op: Op::In,
            value: Value::List(vec![
                Value::Text("lambda".into()),
                Value::Text("runpod".into())
            ])
        }
    );
    assert_eq!(
        q.sort,
        [SortKey {
            field: Field::PricePerGpu,
            descending: false
        }]
    );
    assert_eq!(q.limit, Some(20));
}

#[test]
fn every_operator_parses() {
    let cases = [
        ("count=8", Op::Eq),
        ("count!=8", Op::Ne),
        ("count<8", Op::Lt),
        ("count<=8", Op::Le),
        ("count>8", Op::Gt),
        ("count>=8", Op::Ge),
        ("region~eu", Op::Contains),
        ("count in [1,2]", Op::In),
        ("count notin (1, 2)", Op::NotIn),
        ("provider IN [a]", Op::In),
        ("count >= 8", Op::Ge),
    ];
    for (text, op) in cases {
        assert_eq!(parse(text).filters[0].op, op, "{text}");
    }
}

#[test]
fn values_accept_units_quotes_and_booleans() {
    assert_eq!(parse("vram>=80GB").filters[0].value, Value::Number(80.0));
    assert_eq!(parse("ram>=64gib").filters[0].value, Value::Number(64.0));
    assert_eq!(parse("price<$2.5").filters[0].value, Value::Number(2.5));
    assert_eq!(
        parse("region=\"East Coast (NY2)\"").filters[0].value,
        Value::Text("East Coast (NY2)".into())
    );
    assert_eq!(
        parse("region='it\\'s'").filters[0].value,
        Value::Text("it's".into())
    );
    assert_eq!(parse("available=yes").filters[0].value, Value::Bool(true));
    assert_eq!(parse("stale=false").filters[0].value, Value::Bool(false));
    assert_eq!(
        parse("gpus=8").filters[0].field,
        Field::Count,
        "aliases resolve"
    );
    assert_eq!(
        parse("  ").filters.len(),
        0,
        "blank query matches everything"
    );
}

#[test]
fn sort_takes_several_keys_and_both_descending_spellings() {
    let q = parse("sort=-price,vram- sort=tflops,price");
    assert_eq!(
        q.sort,
        [
            SortKey {
                field: Field::Tflops,
                descending: false
            },
            SortKey {
                field: Field::Price,
                descending: false
            }
        ]
    );
    let q = parse("sort=-price,vram-,+count");
    assert_eq!(
        q.sort.iter().map(|k| k.descending).collect::<Vec<_>>(),
        [true, true, false]
    );
}

#[test]
fn errors_name_the_position_and_suggest_the_nearest_field() {
    let cases: [(&str, usize, &str, Option<&str>); 16] = [
        ("prce<3", 0, "unknown field \"prce\"", Some("'price'")),
        (
            "gpu=H100 vrma>=80",
            9,
            "unknown field \"vrma\"",
            Some("'vram'"),
        ),
        ("gpu=H100 zzzzzz=1", 9, "unknown field", None),
        ("price<cheap", 6, "price expects a number", None),
        ("price~3", 6, "operator '~' does not apply to price", None),
        ("gpu>H100", 4, "operator '>' does not apply to gpu", None),
        ("stale<1", 6, "does not apply to stale", None),
        ("stale=maybe", 6, "expects true or false", None),
        ("price<", 6, "missing value", None),
        ("price", 5, "expected an operator", None),
        ("H100", 0, "bare word", Some("gpu=H100")),
        ("provider in lambda", 12, "take a list", None),
        ("provider=[a,b]", 9, "needs 'in' or 'notin'", None),
        ("provider in [a,b", 12, "unclosed list", None),
        ("sort=gpu", 5, "cannot sort by gpu", None),
        ("limit=0", 6, "limit must be", None),
    ];
    for (text, position, message, suggestion) in cases {
        let err = error(text);
        assert_eq!(err.position, position, "{text}: {err}");
        assert!(err.message.contains(message), "{text}: {err}");
        assert_eq!(err.suggestion.as_deref(), suggestion, "{text}: {err}");
    }
    assert_eq!(error("sort=price,prise").position, 11);
    assert_eq!(error("limit=5000").position, 6);
    assert_eq!(error("region=\"open").message, "unclosed \" quote");
    assert_eq!(error("=3").message, "expected a field name, found '='");
    let shown = error("prce<3").to_string();
    assert_eq!(
        shown,
        "at position 0: unknown field \"prce\" (did you mean 'price'?)"
    );
}

#[test]
fn canonical_text_parses_back_to_the_same_query() {
    for text in [
        "gpu=H100 count>=8 price<30 region~us- provider in [lambda,runpod] sort=-price_per_gpu,vram limit=20",
        "region=\"East Coast (NY2)\" available=true stale!=true count notin [1,2]",
        "gpu=A100-80GB vram>=80 tflops>1000 value<0.01",
    ] {
        let q = parse(text);
        assert_eq!(parse(&q.to_string()), q, "{text} → {q}");
    }
}

#[test]
fn filters_evaluate_numbers_text_and_booleans() {
    let f = |text: &str| parse(text).filters.remove(0);
    assert!(f("count>=8").test_number(Some(8.0)));
    assert!(!f("count>8").test_number(Some(8.0)));
    assert!(
        !f("count>8").test_number(None),
        "a missing value never matches a comparison"
    );
    assert!(f("spot!=1").test_number(None), "but it does match !=");
    assert!(f("count in [1,2,4]").test_number(Some(4.0)));
    assert!(f("count notin [1,2,4]").test_number(Some(8.0)));
    assert!(f("provider=LAMBDA").test_text(Some("lambda")));
    assert!(f("region~US-").test_text(Some("us-east-1")));
    assert!(!f("region~eu").test_text(Some("us-east-1")));
    assert!(f("provider notin [vastai]").test_text(Some("lambda")));
    assert!(f("available=true").test_bool(true));
    assert!(f("stale!=true").test_bool(false));
    let family =
        |offer: &str, wanted: &str| offer == "H100-SXM" && wanted.eq_ignore_ascii_case("h100");
    assert!(f("gpu=h100").test_text_with(Some("H100-SXM"), family));
}

#[test]
fn every_field_has_a_unique_name_and_a_description() {
    let mut names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Field::ALL.len());
    for field in Field::ALL {
        assert_eq!(Field::from_name(field.name()), Some(*field));
        assert!(!field.description().is_empty());
    }
}

#[test]
fn sort_topsis_takes_normalised_weights() {
    let q = parse("gpu~H100 sort=topsis weights=price:2,vram:1,reliability:1");
    let Some(Rank::Topsis(criteria)) = &q.rank else {
        panic!("no ranking: {q:?}");
    };
    let got: Vec<(&str, f64)> = criteria
        .iter()
        .map(|c| (c.attribute.name(), c.weight))
        .collect();
    assert_eq!(
        got,
        vec![("price", 0.5), ("vram", 0.25), ("reliability", 0.25)]
    );
    assert!(q.sort.is_empty());
    // Weights may come first; the canonical text parses back to the same query.
    let q2 = parse("weights=price:2,vram:1,reliability:1 sort=topsis gpu~H100");
    assert_eq!(q, q2);
    assert_eq!(parse(&q.to_string()), q);
}

#[test]
fn sort_topsis_without_weights_uses_the_defaults() {
    let q = parse("sort=topsis");
    let Some(Rank::Topsis(criteria)) = &q.rank else {
        panic!("no ranking");
    };
    let names: Vec<&str> = criteria.iter().map(|c| c.attribute.name()).collect();
    assert_eq!(names, vec!["price", "tflops", "vram", "reliability"]);
    let sum: f64 = criteria.iter().map(|c| c.weight).sum();
    assert!((sum - 1.0).abs() < 1e-12);
    // A later plain sort replaces the ranking.
    assert_eq!(parse("sort=topsis sort=price").rank, None);
}

#[test]
fn bad_topsis_weights_are_rejected_with_a_position() {
    for (text, pos, needle) in [
        ("weights=price:1", 0, "add sort=topsis"),
        ("sort=topsis weights=price", 20, "name:weight"),
        ("sort=topsis weights=price:x", 26, "must be a number"),
        ("sort=topsis weights=price:-1", 26, "must be a number"),
        ("sort=topsis weights=price:1,prise:1", 28, "cannot rank by"),
        ("sort=topsis weights=price:1,region:1", 28, "cannot rank by"),
        ("sort=topsis weights=price:1,price:2", 28, "twice"),
        ("sort=topsis weights=price:0,vram:0", 20, "above 0"),
        ("sort=topsis weights=price:1e308,vram:1e308", 20, "finite"),
        ("sort=topsis,price", 5, "takes no other sort keys"),
    ] {
        let err = Query::parse(text).unwrap_err();
        assert_eq!(err.position, pos, "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    let err = Query::parse("sort=topsis weights=price:1,prise:1").unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("'price'"));
}

#[test]
fn sort_cost_per_mtok_names_a_model_and_defaults_the_rest() {
    let q = parse("gpu~H100 sort=cost_per_mtok model=llama-3-70b precision=fp8");
    let Some(Rank::CostPerMtok(r)) = &q.rank else {
        panic!("not ranked: {q:?}");
    };
    assert_eq!(r.model.id, "llama-3-70b");
    assert_eq!(r.precision, Precision::Fp8);
    assert_eq!(r.batch, DEFAULT_SERVING_BATCH);
    assert_eq!(parse(&q.to_string()), q);
    // A bare size is a generic dense model; precision defaults to bf16.
    let q = parse("sort=cost_per_mtok model=13b batch=8");
    let Some(Rank::CostPerMtok(r)) = &q.rank else {
        panic!("not ranked");
    };
    assert!(!r.model.known);
    assert_eq!(
        (r.model.params_b, r.precision, r.batch),
        (13.0, Precision::Bf16, 8)
    );
    assert_eq!(parse(&q.to_string()), q);
}

#[test]
fn bad_cost_per_mtok_queries_are_rejected_with_a_position() {
    for (text, pos, needle) in [
        ("sort=cost_per_mtok", 5, "needs the model"),
        ("model=llama-3-70b", 0, "add sort=cost_per_mtok"),
        ("sort=price precision=fp8", 11, "add sort=cost_per_mtok"),
        ("sort=cost_per_mtok model=gpt-9", 25, "unknown model"),
        (
            "sort=cost_per_mtok model=70b precision=fp3",
            39,
            "unknown precision",
        ),
        ("sort=cost_per_mtok model=70b batch=0", 35, "batch must be"),
        ("sort=cost_per_mtok,price model=70b", 5, "ranks by itself"),
    ] {
        let err = Query::parse(text).unwrap_err();
        assert_eq!(err.position, pos, "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
}
