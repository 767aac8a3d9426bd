// Admin HTTP: /healthz, /readyz, /metrics and the EKS REST API (paths, JSON bodies, errors as
// status + x-amzn-ErrorType + {"__type", "message"}) so that the AWS CLI works against it.
#include "server/admin_http.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <ctime>
#include <fmt/format.h>
#include <httplib.h>
#include <thread>

#include <spdlog/spdlog.h>

#include "control/api_ec2.hpp"

namespace horizon::server {

namespace {

void reply(httplib::Response& res, const control::ApiResult& r) {
    res.status = r.status;
    if (!r.error_type.empty()) {
        res.set_header("x-amzn-ErrorType", r.error_type);
    }
    res.set_content(r.body.dump(2) + "\n", "application/json");
}

control::ApiResult error(int status, const std::string& type, const std::string& message) {
    return {status, {{"__type", type}, {"message", message}}, type};
}

} // namespace

struct AdminHttp::Impl {
    httplib::Server http;
    std::thread thread;
    Runtime* runtime = nullptr;
    std::string token;
    bool loopback = true;
    MetricsFn metrics;
    ConnectionsFn connections;

    /// The request body as JSON ("" = {}), or false after replying 400.
    static bool json_body(const httplib::Request& req, httplib::Response& res,
                          nlohmann::json& body) {
        try {
            body = nlohmann::json::parse(req.body.empty() ? std::string("{}") : req.body);
            return true;
        } catch (const std::exception& e) {
            reply(res, error(400, "InvalidParameterException",
                             std::string("request body is not valid JSON: ") + e.what()));
            return false;
        }
    }

    using SgCall = control::ApiResult (control::ControlPlane::*)(const std::string&,
                                                                 const nlohmann::json&,
                                                                 control::TimePoint);

    /// The cluster security group's routes: by cluster name (/clusters/NAME/security-group/...)
    /// or by group ID (/security-groups/sg-.../...), the ID being describe-cluster's
    /// clusterSecurityGroupId.
    void security_group_routes() {
        const auto by_group = [](control::ControlPlane& cp, const std::string& id,
                                 std::string& name) -> std::optional<control::ApiResult> {
            name = cp.cluster_of_security_group(id);
            if (!name.empty()) {
                return std::nullopt;
            }
            const bool malformed = !id.starts_with("sg-");
            return error(400, malformed ? "InvalidGroupId.Malformed" : "InvalidGroup.NotFound",
                         malformed ? "Invalid id: \"" + id + "\" (expecting \"sg-...\")"
                                   : "The security group '" + id + "' does not exist");
        };
        for (const bool group : {false, true}) {
            const std::string prefix =
                group ? R"(/security-groups/([^/]+))" : R"(/clusters/([^/]+)/security-group)";
            http.Get(prefix, [this, group, by_group](const httplib::Request& req,
                                                     httplib::Response& res) {
                const std::string key = req.matches[1];
                reply(res, runtime->call([&](control::ControlPlane& cp, control::TimePoint) {
                    std::string name = key;
                    if (group) {
                        if (auto rejected = by_group(cp, key, name)) {
                            return *rejected;
                        }
                    }
                    return cp.describe_security_group_rules(name);
                }));
            });
            for (const auto& [verb, fn] :
                 {std::pair<std::string, SgCall>{
                      "authorize-ingress",
                      &control::ControlPlane::authorize_security_group_ingress},
                  std::pair<std::string, SgCall>{
                      "revoke-ingress", &control::ControlPlane::revoke_security_group_ingress}}) {
                const SgCall call = fn;
                http.Post(
                    prefix + "/" + verb, [this, group, by_group, call](const httplib::Request& req,
                                                                       httplib::Response& res) {
                        const bool authorize =
                            call == &control::ControlPlane::authorize_security_group_ingress;
                        if (!allowed(req, res,
                                     authorize ? "ec2:AuthorizeSecurityGroupIngress"
                                               : "ec2:RevokeSecurityGroupIngress")) {
                            return;
                        }
                        nlohmann::json body;
                        if (!json_body(req, res, body)) {
                            return;
                        }
                        const std::string key = req.matches[1];
                        reply(res,
                              runtime->call([&](control::ControlPlane& cp, control::TimePoint now) {
                                  std::string name = key;
                                  if (group) {
                                      if (auto rejected = by_group(cp, key, name)) {
                                          return *rejected;
                                      }
                                      if (body.is_object() && !body.contains("GroupId")) {
                                          body["GroupId"] = key; // which of its two groups
                                      }
                                  }
                                  return (cp.*call)(name, body, now);
                              }));
                    });
            }
        }
        // EC2's Query protocol: `aws ec2 authorize-security-group-ingress --endpoint-url ...`.
        http.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
            static std::atomic<uint64_t> serial{0};
            const std::string request_id =
                fmt::format("{:08x}-0000-4000-8000-{:012x}",
                            static_cast<uint32_t>(std::time(nullptr)), ++serial);
            std::string action = control::parse_ec2_form(req.body).value("Action", "");
            if (!std::all_of(action.begin(), action.end(),
                             [](unsigned char c) { return std::isalnum(c) != 0; })) {
                action = "?"; // it goes into our messages (XML, JSON) as written
            }
            if (!action.starts_with("Describe") && runtime->admin_read_only()) {
                res.status = 403; // EC2's Query protocol: its XML error document
                res.set_content(
                    fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors>"
                                "<Error><Code>UnauthorizedOperation</Code><Message>{}</Message>"
                                "</Error></Errors><RequestID>{}</RequestID></Response>",
                                read_only_message("ec2:" + action), request_id),
                    "text/xml;charset=UTF-8");
                return;
            }
            if (!allowed(req, res, "ec2:" + action, false)) {
                return;
            }
            control::Ec2Reply answer;
            const auto saved =
                runtime->call([&](control::ControlPlane& cp, control::TimePoint now) {
                    answer = control::ec2_query(cp, req.body, now, request_id);
                    return control::ApiResult{answer.status, nullptr, ""};
                });
            if (saved.status >= 500) { // accepted, but not durable: not made (Runtime::call)
                answer = control::ec2_error(saved.status, "InternalError",
                                            saved.body.value("message", ""), request_id);
            }
            res.status = answer.status;
            res.set_content(answer.xml, "text/xml;charset=UTF-8");
        });
        http.Get(R"(/clusters/([^/]+)/connections)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     if (!connections) {
                         reply(res, error(404, "ResourceNotFoundException", "no API endpoint"));
                         return;
                     }
                     reply(res, connections(req.matches[1]));
                 });
    }

    /// The refusal of a mutating call under [server] admin_read_only, worded as IAM's explicit
    /// deny (EKS and EC2 return it as 403 AccessDeniedException / UnauthorizedOperation).
    static std::string read_only_message(std::string_view action) {
        return fmt::format("not authorized to perform: {} because horizond is read-only "
                           "([server] admin_read_only = true): its configuration file (a "
                           "Kubernetes ConfigMap) is the source of truth; change it there and "
                           "every replica reloads it",
                           action);
    }

    /// Mutating requests: refused when read-only (unless the caller answered that itself); on a
    /// non-loopback admin address they need the bearer token.
    bool allowed(const httplib::Request& req, httplib::Response& res, std::string_view action,
                 bool check_read_only = true) const {
        if (check_read_only && runtime->admin_read_only()) {
            reply(res, error(403, "AccessDeniedException", read_only_message(action)));
            return false;
        }
        if (loopback) {
            return true; // the lab's own machine; the AWS CLI's SigV4 header is not verified
        }
        if (!token.empty() && req.get_header_value("Authorization") == "Bearer " + token) {
            return true;
        }
        reply(res,
              error(403, "AccessDeniedException",
                    token.empty() ? "mutating requests on a non-loopback admin_listen need "
                                    "[server] admin_token or admin_token_file"
                                  : "missing or wrong bearer token (Authorization: Bearer …)"));
        return false;
    }

    void routes() {
        http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("ok\n", "text/plain");
        });
        http.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
            const auto readiness = runtime->readiness();
            res.status = readiness.ready ? 200 : 503;
            res.set_content(readiness.body, "application/json");
        });
        http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics(), "text/plain; version=0.0.4");
        });
        http.Get("/clusters", [this](const httplib::Request&, httplib::Response& res) {
            reply(res, runtime->call([](control::ControlPlane& cp, control::TimePoint) {
                return cp.list_clusters();
            }));
        });
        http.Get(R"(/clusters/([^/]+))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     const std::string name = req.matches[1];
                     reply(res, runtime->call([&](control::ControlPlane& cp, control::TimePoint) {
                         return cp.describe_cluster(name);
                     }));
                 });
        http.Post(R"(/clusters/([^/]+)/update-config)", [this](const httplib::Request& req,
                                                               httplib::Response& res) {
            if (!allowed(req, res, "eks:UpdateClusterConfig")) {
                return;
            }
            const std::string name = req.matches[1];
            nlohmann::json body;
            try {
                body = nlohmann::json::parse(req.body.empty() ? std::string("{}") : req.body);
            } catch (const std::exception& e) {
                reply(res, error(400, "InvalidParameterException",
                                 std::string("request body is not valid JSON: ") + e.what()));
                return;
            }
            reply(res, runtime->call([&](control::ControlPlane& cp, control::TimePoint now) {
                return cp.update_cluster_config(name, body, now);
            }));
        });
        http.Get(R"(/clusters/([^/]+)/updates)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     const std::string name = req.matches[1];
                     reply(res, runtime->call([&](control::ControlPlane& cp, control::TimePoint) {
                         return cp.list_updates(name);
                     }));
                 });
        http.Get(R"(/clusters/([^/]+)/updates/([^/]+))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     const std::string name = req.matches[1];
                     const std::string id = req.matches[2];
                     reply(res, runtime->call([&](control::ControlPlane& cp, control::TimePoint) {
                         return cp.describe_update(name, id);
                     }));
                 });
        http.Get(R"(/clusters/([^/]+)/explain)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     const std::string name = req.matches[1];
                     if (!req.has_param("source")) {
                         reply(res, error(400, "InvalidParameterException",
                                          "explain needs ?source=<IP address>"));
                         return;
                     }
                     reply(res, runtime->explain(name, req.get_param_value("source")));
                 });
        security_group_routes();
        http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (res.body.empty()) {
                const std::string type =
                    res.status == 404 ? "ResourceNotFoundException" : "BadRequestException";
                res.set_header("x-amzn-ErrorType", type);
                res.set_content(
                    nlohmann::json{{"__type", type},
                                   {"message", "no such operation: " + req.method + " " + req.path}}
                            .dump(2) +
                        "\n",
                    "application/json");
            }
        });
        http.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
                std::string what = "internal error";
                try {
                    std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                spdlog::error("admin: {}", what);
                reply(res, error(500, "ServerException", what));
            });
    }
};

AdminHttp::AdminHttp(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

AdminHttp::~AdminHttp() {
    stop();
}

std::unique_ptr<AdminHttp> AdminHttp::create(const util::Endpoint& listen, std::string token,
                                             Runtime& runtime, MetricsFn metrics,
                                             std::string& error_line, ConnectionsFn connections) {
    auto impl = std::make_unique<Impl>();
    impl->runtime = &runtime;
    impl->token = std::move(token);
    impl->metrics = std::move(metrics);
    impl->connections = std::move(connections);
    const auto a = listen.addr.unmapped();
    impl->loopback = a.is_v4() ? a.bytes[0] == 127 : a == *util::IpAddress::parse("::1");
    impl->routes();
    if (!impl->http.bind_to_port(listen.addr.to_string(), listen.port)) {
        error_line = "cannot listen on admin address " + listen.to_string() +
                     " (tcp): address in use or not available (change [server] admin_listen, or "
                     "set it to \"\" to run without the admin API)";
        return nullptr;
    }
    return std::unique_ptr<AdminHttp>(new AdminHttp(std::move(impl)));
}

void AdminHttp::start() {
    impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
}

void AdminHttp::stop() {
    if (impl_ && impl_->thread.joinable()) {
        impl_->http.stop();
        impl_->thread.join();
    }
}

} // namespace horizon::server
