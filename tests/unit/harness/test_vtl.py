"""Harness: API Gateway's mapping template variables (``mdlc.harness.vtl``), as the API
Gateway developer guide documents them ("Variables for data transformations").

These test the harness' own emulation, not the product: what a template sees through
``$input``, ``$util`` and ``$context`` decides whether a template that works offline works
on AWS.
"""

from __future__ import annotations

import json

import pytest

from mdlc.harness import vtl

PETS = json.dumps({"pets": [{"id": 1, "type": "dog", "price": 249.99}, {"id": 2, "type": "cat", "price": 124.99}],
                   "owner": {"name": "Ana", "tags": ["a", "b"]}, "note": None})


def _render(template: str, body: str = PETS, **kwargs) -> str:
    return vtl.render(template, body=body, context={"requestId": "r-1"}, **kwargs)[0]


def test_input_json_is_the_jsonpath_match_as_compact_json():
    assert _render("$input.json('$.pets[0]')") == '{"id":1,"type":"dog","price":249.99}'
    assert json.loads(_render("$input.json('$')")) == json.loads(PETS)
    assert _render("$input.json('$.owner.name')") == '"Ana"'


def test_input_path_gives_objects_templates_walk_and_a_definite_path_one_value():
    assert _render("$input.path('$.pets').size() $input.path('$.pets')[1].type "
                   "$input.path('$.owner').name $input.path('$.pets[0].price')") == "2 cat Ana 249.99"


def test_an_indefinite_path_is_a_list_even_with_one_match_as_jayway_gives_it():
    assert _render("$input.path('$.pets[?(@.price > 200)].id').size()") == "1"
    assert _render("$input.json('$.pets[*].id')") == "[1,2]"
    assert _render("$input.json('$..name')") == '["Ana"]'


def test_a_missing_path_renders_as_nothing():
    assert _render("[$input.path('$.missing')][$input.path('$.note')]") == "[][]"


def test_an_empty_payload_is_an_empty_object_to_jsonpath_and_an_empty_body():
    assert _render("$input.json('$')|$input.body|$input.body.length()", body="") == "{}||0"


def test_a_payload_that_is_not_json_is_the_string_itself():
    assert _render("$input.path('$')|$input.json('$')", body="a=b") == 'a=b|"a=b"'


def test_input_body_is_a_java_string_counting_utf16_units():
    body = '{"name": "é😀"}'
    assert _render("$input.body.length() $input.body.contains('😀')", body=body) == f"{len(body) + 1} true"


def test_maps_print_as_java_maps_and_lists_as_json():
    assert _render("$input.path('$.owner')") == '{name=Ana, tags=["a","b"]}'


def test_input_params_searches_path_then_query_string_then_headers():
    params = {"path": {"id": "p"}, "querystring": {"id": "q", "page": "2"},
              "header": {"Content-Type": "application/json", "id": "h"}}

    assert _render("$input.params('id') $input.params('page') $input.params('content-type') [$input.params('no')]",
                   params=params) == "p 2 application/json []"


def test_the_documented_pass_all_parameters_template_renders_json():
    """Example 2 of the developer guide's mapping variable examples, verbatim in substance."""
    template = """#set($allParams = $input.params())
{
"params" : {
#foreach($type in $allParams.keySet())
#set($params = $allParams.get($type))
"$type" : {
#foreach($paramName in $params.keySet())
"$paramName" : "$util.escapeJavaScript($params.get($paramName))"
#if($foreach.hasNext),#end
#end
}
#if($foreach.hasNext),#end
#end
}
}"""
    params = {"path": {"id": "7"}, "querystring": {"q": "it's"}, "header": {"accept": "*/*"}}

    assert json.loads(_render(template, params=params).replace("\\'", "'")) == {"params": {
        "path": {"id": "7"}, "querystring": {"q": "it's"}, "header": {"accept": "*/*"}}}


def test_util_url_and_base64_functions_are_javas():
    assert _render("$util.urlEncode('a b/~*é')") == "a+b%2F%7E*%C3%A9"  # java.net.URLEncoder, UTF-8
    assert _render("$util.urlDecode('a+b%2F%C3%A9')") == "a b/é"
    assert _render("$util.base64Encode('hé') $util.base64Decode('aMOp')") == "aMOp hé"  # a String, not bytes


def test_util_parse_json_gives_an_object_and_the_response_override_is_read_back():
    template = ("#set($out = $util.parseJson($input.path('$.output')))"
                "#set($context.responseOverride.status = $out.status)$out.body.items.size()")
    body = json.dumps({"output": json.dumps({"status": 409, "body": {"items": [1, 2, 3]}})})

    text, context = vtl.render(template, body=body, context={"requestId": "r-1"})

    assert text == "3" and context["responseOverride"]["status"] == 409


def test_a_function_util_does_not_have_renders_as_nothing_as_on_aws():
    assert _render("[$util.toJson('a')]") == "[]"


def test_util_parse_json_of_something_not_json_fails_the_template():
    with pytest.raises(Exception, match="Expecting value|JSON"):
        _render("$util.parseJson('not json')")


def test_a_hash_before_a_reference_is_text_and_the_reference_is_rendered():
    """airspeed alone printed ``#$context.requestId`` verbatim; Velocity prints ``#r-1``."""
    assert (_render('{"id": "order#$context.requestId", "c": "# $context.requestId"}')
            == '{"id": "order#r-1", "c": "# r-1"}')
    assert _render("## a comment $context.requestId\n#* block # $x *#ok") == "ok"


def test_context_strings_have_the_java_string_methods():
    assert _render("$context.requestId.toUpperCase() $context.requestId.replaceAll('-(\\d)', '_$1')") == "R-1 r_1"


def test_each_jsonpath_expression_is_compiled_once():
    vtl.compile_jsonpath.cache_clear()
    for _ in range(3):
        _render("$input.json('$.owner.tags')")

    info = vtl.compile_jsonpath.cache_info()
    assert (info.misses, info.hits) == (1, 2)
