// Tests for control/shorthand.hpp. Every expected value and message was taken from the AWS CLI
// v2 (Debian's awscli 2.9: awscli.shorthand, awscli.argprocess and botocore's validator) on the
// same input; a differential run over 150,000 random inputs found no difference.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "control/shorthand.hpp"

namespace {

using horizon::control::ParamResult;
using horizon::control::parse_resources_vpc_config;
using horizon::control::parse_shorthand;
using Json = nlohmann::ordered_json;

/// Either the parsed value as compact JSON, or "!" followed by the error text.
std::string shorthand(const std::string& text) {
    const auto r = parse_shorthand(text);
    return r.value ? r.value->dump() : "!" + r.error;
}

std::string vpc(const std::string& text) {
    const ParamResult r = parse_resources_vpc_config(text);
    return r.ok() ? r.value.dump() : "!" + r.message;
}

} // namespace

TEST_CASE("shorthand: the grammar, value by value") {
    struct Case {
        const char* input;
        const char* expected; // compact JSON
    };

    for (const Case& c : {
             Case{"a=b", R"({"a":"b"})"},
             Case{"a=b,c=d", R"({"a":"b","c":"d"})"},
             Case{"a = b , c = d", R"({"a":"b","c":"d"})"},
             Case{"a=b,c", R"({"a":["b","c"]})"},
             Case{"a=b,c,d=e,f", R"({"a":["b","c"],"d":["e","f"]})"},
             Case{"a=1,2,3,b=4,5", R"({"a":["1","2","3"],"b":["4","5"]})"},
             Case{"a=[b, c],d=e", R"({"a":["b","c"],"d":"e"})"},
             Case{"a=[]", R"({"a":[]})"},
             Case{"a=[b,[c]]", R"({"a":["b",["c"]]})"},
             Case{"a={b=c,d=[e,f]}", R"({"a":{"b":"c","d":["e","f"]}})"},
             Case{"a=[{b=c},{d=e}]", R"({"a":[{"b":"c"},{"d":"e"}]})"},
             Case{"a=", R"({"a":""})"},
             Case{"a=b c ,d=e", R"({"a":"b c","d":"e"})"},
             Case{"a=b=c", R"({"a":"b=c"})"},
             Case{"a=x,b=c=d", R"({"a":"x","b":"c=d"})"},
             Case{"a=x,=b", R"({"a":"x","":"b"})"},
             Case{R"(a=x\,y)", R"({"a":"x,y"})"},
             Case{R"(a='q\'d')", R"({"a":"q'd"})"},
             Case{R"(a="x\"y")", R"({"a":"x\"y"})"},
             Case{R"(a='a\')", R"({"a":"a\\"})"}, // the escape is given up to find the quote
             Case{R"(a="")", R"({"a":""})"},
             Case{"a='x',\"y\",b=c", R"({"a":["x","y"],"b":"c"})"},
             Case{"k.#/:-_=v", R"({"k.#/:-_":"v"})"},
             Case{"a=é,b=ü", R"({"a":"é","b":"ü"})"},
             Case{"a=b\nc=d", R"({"a":"b\nc=d"})"}, // a newline separates nothing
             Case{"a=b,\nb=c,\nd", R"({"a":"b","b":["c","d"]})"},
             // The seed lab's value once the shell has removed the quotes, and with them kept.
             Case{"endpointPublicAccess=true,publicAccessCidrs=203.0.113.5/32,198.51.100.0/24,"
                  "endpointPrivateAccess=true",
                  R"({"endpointPublicAccess":"true","publicAccessCidrs":["203.0.113.5/32",)"
                  R"("198.51.100.0/24"],"endpointPrivateAccess":"true"})"},
             Case{R"(endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32,198.51.100.0/24",)"
                  R"(endpointPrivateAccess=true)",
                  R"({"endpointPublicAccess":"true","publicAccessCidrs":"203.0.113.5/32,)"
                  R"(198.51.100.0/24","endpointPrivateAccess":"true"})"},
         }) {
        INFO(std::string(c.input));
        CHECK(shorthand(c.input) == c.expected);
    }
}

TEST_CASE("shorthand: syntax errors name what was expected and point at it") {
    struct Case {
        const char* input;
        const char* error;
    };

    for (const Case& c : {
             Case{"", "Expected: '=', received: 'EOF' for input:\n\n^"},
             Case{"a", "Expected: '=', received: 'EOF' for input:\na\n ^"},
             Case{"a=b,,", "Expected: '=', received: 'EOF' for input:\na=b,,\n     ^"},
             Case{"a=[b,", "Expected: ',', received: 'EOF' for input:\na=[b,\n     ^"},
             Case{"a={b=c", "Expected: ',', received: 'EOF' for input:\na={b=c\n      ^"},
             Case{"a=[b]c", "Expected: ',', received: 'c' for input:\na=[b]c\n     ^"},
             Case{"é=b", "Expected: '=', received: 'é' for input:\né=b\n^"},
             Case{"a='x", "Expected: '<singled quoted>', received: '<none>' for input:\na='x\n  ^"},
             Case{"a=\"x",
                  "Expected: '<double quoted>', received: '<none>' for input:\na=\"x\n  ^"},
             // After a comma, a quote cannot start a key: the csv list backtracks to the comma.
             Case{"a=b,'c", "Expected: '=', received: ''' for input:\na=b,'c\n    ^"},
             Case{"a=b,\n[x", "Expected: '=', received: '[' for input:\na=b,\n[x\n^"},
             Case{"a=[b\n,c", "Expected: ',', received: 'EOF' for input:\na=[b\n,c\n  ^"},
             Case{"a=b,c=d,a=e", "Second instance of key \"a\" encountered for input:\n"
                                 "a=b,c=d,a=e\n        ^\n"
                                 "This is often because there is a preceding \",\" instead of a "
                                 "space."},
             Case{"x=1,\ny=2,\nx=3", "Second instance of key \"x\" encountered for input:\n"
                                     "x=1,\ny=2,\n    ^\nx=3\n"
                                     "This is often because there is a preceding \",\" instead "
                                     "of a space."},
         }) {
        INFO(std::string(c.input));
        CHECK(shorthand(c.input) == std::string("!") + c.error);
    }
}

TEST_CASE("--resources-vpc-config: the model turns shorthand into typed members") {
    struct Case {
        const char* input;
        const char* expected;
    };

    for (const Case& c : {
             Case{"endpointPublicAccess=true,publicAccessCidrs=203.0.113.5/32,198.51.100.0/24,"
                  "endpointPrivateAccess=true",
                  R"({"endpointPublicAccess":true,"publicAccessCidrs":["203.0.113.5/32",)"
                  R"("198.51.100.0/24"],"endpointPrivateAccess":true})"},
             Case{"endpointPublicAccess=true,publicAccessCidrs=\"203.0.113.5/32\","
                  "endpointPrivateAccess=true",
                  R"({"endpointPublicAccess":true,"publicAccessCidrs":["203.0.113.5/32"],)"
                  R"("endpointPrivateAccess":true})"},
             Case{"publicAccessCidrs=[203.0.113.5/32,198.51.100.0/24]",
                  R"({"publicAccessCidrs":["203.0.113.5/32","198.51.100.0/24"]})"},
             Case{"endpointPrivateAccess=FALSE,endpointPublicAccess=True",
                  R"({"endpointPrivateAccess":false,"endpointPublicAccess":true})"},
             Case{"publicAccessCidrs=", R"({"publicAccessCidrs":[""]})"},
             Case{"publicAccessCidrs=[]", R"({"publicAccessCidrs":[]})"},
             Case{"subnetIds=subnet-1,subnet-2,securityGroupIds=sg-1",
                  R"({"subnetIds":["subnet-1","subnet-2"],"securityGroupIds":["sg-1"]})"},
             // The one deliberate difference: a quoted list is split (the AWS CLI sends it as
             // one CIDR "203.0.113.5/32,198.51.100.0/24", which EKS rejects).
             Case{
                 R"(endpointPublicAccess=true,publicAccessCidrs="203.0.113.5/32, 198.51.100.0/24",)"
                 R"(endpointPrivateAccess=true)",
                 R"({"endpointPublicAccess":true,"publicAccessCidrs":["203.0.113.5/32",)"
                 R"("198.51.100.0/24"],"endpointPrivateAccess":true})"},
             // JSON is taken as written, in the order written.
             Case{R"( {"endpointPrivateAccess": false, "publicAccessCidrs": ["0.0.0.0/0"]})",
                  R"({"endpointPrivateAccess":false,"publicAccessCidrs":["0.0.0.0/0"]})"},
             Case{"{}", "{}"},
         }) {
        INFO(std::string(c.input));
        CHECK(vpc(c.input) == c.expected);
    }
}

TEST_CASE("--resources-vpc-config: errors as the AWS CLI prints them") {
    struct Case {
        const char* input;
        ParamResult::Kind kind;
        const char* message;
    };

    using K = ParamResult::Kind;
    for (
        const Case& c : {
            Case{"endpointPublicAccess=true,,", K::ParseError,
                 "Error parsing parameter '--resources-vpc-config': Expected: '=', received: "
                 "'EOF' for input:\nendpointPublicAccess=true,,\n                           ^"},
            Case{"endpointPublicAccess=true,endpointPublicAccess=false", K::ParseError,
                 "Error parsing parameter '--resources-vpc-config': Second instance of key "
                 "\"endpointPublicAccess\" encountered for input:\n"
                 "endpointPublicAccess=true,endpointPublicAccess=false\n"
                 "                          ^\n"
                 "This is often because there is a preceding \",\" instead of a space."},
            Case{"[1]", K::ParseError,
                 "Error parsing parameter '--resources-vpc-config': Invalid JSON:\n[1]"},
            Case{"endpointPublicAccess=yes", K::ValidationError,
                 "Parameter validation failed:\nInvalid type for parameter "
                 "resourcesVpcConfig.endpointPublicAccess, value: yes, type: <class 'str'>, "
                 "valid types: <class 'bool'>"},
            Case{"endpointPublicAccess=", K::ValidationError,
                 "Parameter validation failed:\nInvalid type for parameter "
                 "resourcesVpcConfig.endpointPublicAccess, value: , type: <class 'str'>, "
                 "valid types: <class 'bool'>"},
            Case{"foo=bar", K::ValidationError,
                 "Parameter validation failed:\nUnknown parameter in resourcesVpcConfig: "
                 "\"foo\", must be one of: subnetIds, securityGroupIds, endpointPublicAccess, "
                 "endpointPrivateAccess, publicAccessCidrs"},
            Case{"publicAccessCidrs={a=b}", K::ValidationError,
                 "Parameter validation failed:\nInvalid type for parameter "
                 "resourcesVpcConfig.publicAccessCidrs[0], value: {'a': 'b'}, type: <class "
                 "'dict'>, valid types: <class 'str'>"},
            Case{"publicAccessCidrs=[a,[b]]", K::ValidationError,
                 "Parameter validation failed:\nInvalid type for parameter "
                 "resourcesVpcConfig.publicAccessCidrs[1], value: ['b'], type: <class 'list'>, "
                 "valid types: <class 'str'>"},
            Case{R"({"publicAccessCidrs":"x"})", K::ValidationError,
                 "Parameter validation failed:\nInvalid type for parameter "
                 "resourcesVpcConfig.publicAccessCidrs, value: x, type: <class 'str'>, valid "
                 "types: <class 'list'>, <class 'tuple'>"},
            // Unknown members first, then the types, each in the order written.
            Case{
                R"({"zz": 1, "endpointPublicAccess": "true", "publicAccessCidrs": [1, null], "aa": 2})",
                K::ValidationError,
                "Parameter validation failed:\n"
                "Unknown parameter in resourcesVpcConfig: \"zz\", must be one of: subnetIds, "
                "securityGroupIds, endpointPublicAccess, endpointPrivateAccess, "
                "publicAccessCidrs\n"
                "Unknown parameter in resourcesVpcConfig: \"aa\", must be one of: subnetIds, "
                "securityGroupIds, endpointPublicAccess, endpointPrivateAccess, "
                "publicAccessCidrs\n"
                "Invalid type for parameter resourcesVpcConfig.endpointPublicAccess, value: "
                "true, type: <class 'str'>, valid types: <class 'bool'>\n"
                "Invalid type for parameter resourcesVpcConfig.publicAccessCidrs[0], value: 1, "
                "type: <class 'int'>, valid types: <class 'str'>\n"
                "Invalid type for parameter resourcesVpcConfig.publicAccessCidrs[1], value: "
                "None, type: <class 'NoneType'>, valid types: <class 'str'>"},
        }) {
        INFO(std::string(c.input));
        const ParamResult r = parse_resources_vpc_config(c.input);
        CHECK(r.kind == c.kind);
        CHECK(r.message == c.message);
    }
}

TEST_CASE("--resources-vpc-config: invalid JSON says where, and echoes the input") {
    const ParamResult r = parse_resources_vpc_config(R"({"endpointPublicAccess": tru})");
    REQUIRE(r.kind == ParamResult::Kind::ParseError);
    const std::string prefix = "Error parsing parameter '--resources-vpc-config': Invalid JSON: ";
    CHECK(r.message.starts_with(prefix));
    CHECK(r.message.find("line 1 column ") != std::string::npos);
    CHECK(r.message.ends_with("\nJSON received: {\"endpointPublicAccess\": tru}"));

    const ParamResult other = parse_resources_vpc_config("{}", "--other");
    CHECK(other.ok());
    CHECK(parse_resources_vpc_config("{", "--other")
              .message.starts_with("Error parsing parameter '--other': Invalid JSON: "));
}

TEST_CASE("python_str renders values as botocore's messages do") {
    using horizon::control::python_str;
    CHECK(python_str(Json("yes")) == "yes");
    CHECK(python_str(Json(true)) == "True");
    CHECK(python_str(Json(nullptr)) == "None");
    CHECK(python_str(Json(12)) == "12");
    CHECK(python_str(Json::parse(R"(["a", "it's", "x\ny", 1.5, false])")) ==
          R"(['a', "it's", 'x\ny', 1.5, False])");
    CHECK(python_str(Json::parse(R"({"a": {"b": []}})")) == "{'a': {'b': []}}");
}

TEST_CASE("nesting is bounded, in shorthand and in JSON") {
    using horizon::control::kMaxNesting;
    using horizon::control::nesting_depth;
    CHECK(nesting_depth(Json(1)) == 0);
    CHECK(nesting_depth(Json::parse("[]")) == 1);
    CHECK(nesting_depth(Json::parse(R"({"a": [1, {"b": [[]]}], "c": {}})")) == 5);

    const auto nested = [](size_t n, char open, char close) {
        return std::string(n, open) + std::string(n, close);
    };
    // kMaxNesting levels parse (and fail validation as a type error); one more is refused, with
    // the caret where the level begins. Deep input must not exhaust the stack either.
    CHECK(vpc("publicAccessCidrs=" + nested(kMaxNesting, '[', ']'))
              .starts_with("!Parameter validation failed:\nInvalid type for parameter "
                           "resourcesVpcConfig.publicAccessCidrs[0], value: [[[["));
    const std::string too_deep = "publicAccessCidrs=" + nested(kMaxNesting + 1, '[', ']');
    CHECK(vpc(too_deep) == "!Error parsing parameter '--resources-vpc-config': Nested more than "
                           "64 levels deep for input:\n" +
                               too_deep + "\n" + std::string(18 + kMaxNesting, ' ') + "^");
    CHECK(shorthand("a=" + nested(100000, '[', ']')).starts_with("!Nested more than 64 levels"));
    std::string maps = "a=";
    for (int i = 0; i < 100000; ++i) {
        maps += "{b=";
    }
    CHECK(shorthand(maps).starts_with("!Nested more than 64 levels"));

    CHECK(vpc(R"({"publicAccessCidrs": )" + nested(kMaxNesting - 1, '[', ']') + "}")
              .starts_with("!Parameter validation failed:"));
    CHECK(vpc(R"({"publicAccessCidrs": )" + nested(kMaxNesting, '[', ']') + "}")
              .starts_with("!Error parsing parameter '--resources-vpc-config': Invalid JSON: "
                           "nested more than 64 levels deep\nJSON received: "));
    CHECK(vpc(R"({"publicAccessCidrs": )" + nested(100000, '[', ']') + "}")
              .starts_with("!Error parsing parameter '--resources-vpc-config': Invalid JSON: "
                           "nested more than 64 levels deep"));
}
