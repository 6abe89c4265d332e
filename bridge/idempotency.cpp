// Idempotency keys (see the header): the store and the engine in front of the others.
#include "bridge/idempotency.hpp"

#include "bridge/call_handoff.hpp"

#include <openssl/evp.h>

namespace dragoman::bridge {

namespace json = boost::json;

std::optional<std::string> parse_idempotency_key(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 255) return std::nullopt;
  for (char c : v)
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return std::nullopt;
  return std::string(v);
}

std::string scoped_idempotency_key(std::string_view identity, std::string_view key) {
  std::string s;
  s.reserve(identity.size() + key.size() + 1);
  s.append(identity).push_back('\n');
  s.append(key);
  return s;
}

std::string idempotency_fingerprint(std::string_view op, const json::object& data) {
  std::string text(op);
  text.push_back('\0');
  text += json::serialize(data);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(digits[md[i] >> 4]);
    hex.push_back(digits[md[i] & 15]);
  }
  return hex;
}

void idempotency_store::purge(clock::time_point now) {
  while (!answered_.empty() && answered_.front().first <= now) {
    auto it = entries_.find(answered_.front().second);
    if (it != entries_.end() && it->second.done && it->second.expires <= now) entries_.erase(it);
    answered_.pop_front();
  }
}

idempotency_store::lookup idempotency_store::begin(const std::string& key,
                                                   const std::string& fingerprint,
                                                   clock::time_point now) {
  std::lock_guard lock(mutex_);
  purge(now);
  lookup l;
  if (auto it = entries_.find(key); it != entries_.end()) {
    if (it->second.fingerprint != fingerprint)
      l.v = verdict::reused;
    else if (!it->second.done)
      l.v = verdict::in_progress;
    else {
      l.v = verdict::replay;
      l.answer = it->second.answer;
      ++replays_;
    }
    return l;
  }
  // Full: the oldest answered keys make room; keys in flight are never dropped.
  while (entries_.size() >= opts_.max_keys && !answered_.empty()) {
    auto it = entries_.find(answered_.front().second);
    if (it != entries_.end() && it->second.done) entries_.erase(it);
    answered_.pop_front();
  }
  if (entries_.size() >= opts_.max_keys) {
    l.v = verdict::full;
    return l;
  }
  entries_.emplace(key, entry{fingerprint, false, {}, {}});
  return l;
}

void idempotency_store::finish(const std::string& key, const call_result& r,
                               clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (retry_safe(r.code)) {
    entries_.erase(it);
    return;
  }
  entry& e = it->second;
  e.done = true;
  e.answer = r;
  e.answer.trace.reset();  // a replay carries no wire trace of its own
  e.expires = now + opts_.window;
  answered_.emplace_back(e.expires, key);
}

std::size_t idempotency_store::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::uint64_t idempotency_store::replays() const {
  std::lock_guard lock(mutex_);
  return replays_;
}

namespace {

class idempotent_engine final : public call_engine {
 public:
  idempotent_engine(std::unique_ptr<call_engine> inner, idempotency_options o)
      : inner_(std::move(inner)), store_(std::make_shared<idempotency_store>(o)) {}

  void submit(call_request req, boost::asio::any_io_executor caller, call_handler&& done) override {
    if (req.idempotency_key.empty())
      return inner_->submit(std::move(req), std::move(caller), std::move(done));
    const std::string fingerprint = idempotency_fingerprint(req.op, req.data);
    auto l = store_->begin(req.idempotency_key, fingerprint, idempotency_store::clock::now());
    switch (l.v) {
      case idempotency_store::verdict::replay:
        l.answer.replayed = true;
        return post_result(caller, std::move(done), std::move(l.answer));
      case idempotency_store::verdict::reused:
        return post_result(
            caller, std::move(done),
            make_error_result(call_code::idempotency_key_reused,
                              "this Idempotency-Key was used with another operation or body"));
      case idempotency_store::verdict::in_progress:
        return post_result(caller, std::move(done),
                           make_error_result(call_code::in_progress,
                                             "a call with this Idempotency-Key is in flight"));
      case idempotency_store::verdict::full:
        return post_result(caller, std::move(done),
                           make_error_result(call_code::overloaded,
                                             "every idempotency key the store holds is in flight"));
      case idempotency_store::verdict::fresh:
        break;
    }
    std::string key = req.idempotency_key;
    inner_->submit(
        std::move(req), std::move(caller),
        [store = store_, key = std::move(key), done = std::move(done)](call_result&& r) mutable {
          store->finish(key, r, idempotency_store::clock::now());
          done(std::move(r));
        });
  }

  bool ready() const override { return inner_->ready(); }
  json::object describe_upstreams() const override { return inner_->describe_upstreams(); }
  std::string upstream_listen_address() const override { return inner_->upstream_listen_address(); }
  json::object stats() const override {
    json::object o = inner_->stats();
    o["idempotency_keys"] = store_->size();
    o["idempotency_replays"] = store_->replays();
    return o;
  }
  std::optional<call_result> prepare(const call_request& req, json::object& pinned,
                                     std::string& control_id) override {
    return inner_->prepare(req, pinned, control_id);
  }
  message_answer read_message(std::string_view id) const override {
    return inner_->read_message(id);
  }
  message_answer admin_messages(std::string_view method, std::string_view rest,
                                std::string_view query) override {
    return inner_->admin_messages(method, rest, query);
  }
  void reload(std::shared_ptr<const codecs::profile> p) override { inner_->reload(std::move(p)); }
  void drain(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override {
    inner_->drain(deadline, std::move(done));
  }

 private:
  std::unique_ptr<call_engine> inner_;
  std::shared_ptr<idempotency_store> store_;  // shared with the completions in flight
};

}  // namespace

std::unique_ptr<call_engine> make_idempotent_engine(std::unique_ptr<call_engine> inner,
                                                    idempotency_options o) {
  return std::make_unique<idempotent_engine>(std::move(inner), o);
}

}  // namespace dragoman::bridge
