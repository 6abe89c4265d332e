// One upstream connection: one socket's life (resolve, connect, sign-on through its session,
// reading frames, batched writes, reconnect with backoff, reload, drain), with one state and one
// way to close. Its calls live in a call_book, its session in an upstream_session; each finished
// attempt goes back to the pool through upstream_shared::attempt_ended. Included by the pool only.
#pragma once

#include "bridge/call_book.hpp"
#include "bridge/deliver_client.hpp"
#include "bridge/session_sequence.hpp"
#include "bridge/upstream_session.hpp"
#include "bridge/upstream_shared.hpp"
#include "bridge/upstream_stream.hpp"
#include "codecs/frame_reader.hpp"
#include "codecs/incoming.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace dragoman::bridge {

class upstream_connection final : public std::enable_shared_from_this<upstream_connection>,
                                  private session_host {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  upstream_connection(boost::asio::io_context& ctx, std::shared_ptr<upstream_shared> shared,
                      endpoint& ep, connection_gauge& gauge);

  boost::asio::io_context& context() noexcept { return ctx_; }
  // Starts connecting (on its own thread).
  void start();
  // Takes an app call: inline on its own thread (outside an answer's delivery), else posted.
  void submit(std::unique_ptr<tracked_call> call);
  // The endpoint's breaker closed: a connect it held back starts now.
  void post_breaker_closed();
  void post_reload(std::shared_ptr<profile_bundle> bundle);
  void post_drain(time_point deadline);
  // On its own thread (or with its context not running): fails every call and closes for good.
  void shutdown();

  // A slot of a listened endpoint (upstream_connection_accepted.cpp): the listener claims a
  // vacant one (any thread), then hands it the host's socket, accepted on context().
  bool claim_vacant() noexcept;
  void release_claim() noexcept { vacant_.store(true, std::memory_order_release); }
  void post_adopt(boost::asio::ip::tcp::socket socket);

 private:
  // The one state. Calls flow in up and draining; backoff waits for a reconnect (or the breaker).
  enum class state { connecting, signing_on, up, draining, backoff, stopped };
  enum class backoff_for { reconnect, breaker };

  // How a connection that was open closes (close_and): what its calls are told and what follows.
  struct close_reason {
    enum class kind {
      lost,      // failed while open: warn "disconnect", calls in flight retryable elsewhere
      dropped,   // the sign-on failed (already logged): no "disconnect" line
      replaced,  // reload with another wire, while idle
      closed,    // on purpose (drain, shutdown): info "disconnect", then stopped
    };
    kind how = kind::lost;
    std::string why;
    call_code code = call_code::upstream_unavailable;  // for the calls in flight
    bool breaker = false;  // counts against the breaker (when the connection was up)
  };
  enum class then { reconnect, reconnect_now, stop };

  const codecs::profile& profile() const noexcept { return *bundle_->profile; }
  const engine_options& options() const noexcept { return shared_->options; }
  upstream_counters& counters() noexcept { return *shared_->counters; }
  bool carries_calls() const noexcept { return state_ == state::up || state_ == state::draining; }
  bool writable() const noexcept { return carries_calls() || state_ == state::signing_on; }
  bool drain_requested() const noexcept { return drain_deadline_.has_value(); }
  bool queueable() const noexcept;
  void publish();
  void set_error(const std::string& why);

  // Calls.
  void on_submit(std::unique_ptr<tracked_call> c);
  tracked_call* adopt(std::unique_ptr<tracked_call> c, time_point when);
  bool send(tracked_call* c);
  void fail_one(tracked_call* c, call_code code, std::string message);
  void fail_all(call_code code, const std::string& message, bool with_queued,
                bool retryable = false);
  void end_attempt(std::unique_ptr<tracked_call> t, call_result r, bool retryable = false,
                   const codecs::record* reply = nullptr);
  void end_error(std::unique_ptr<tracked_call> t, call_code code, std::string message,
                 bool retryable = false);
  void pump_queue();

  // Writing and reading.
  void start_write();
  void on_write(std::uint64_t epoch, boost::system::error_code ec, std::size_t n);
  void do_read();
  void on_read(std::uint64_t epoch, boost::system::error_code ec, std::size_t n);
  void count_rejected(codecs::errc reason);
  bool read_frames();
  void handle_payload(codecs::byte_view payload);
  void complete_with_reply(tracked_call* c, const codecs::decoded_message& decoded);
  void unmatched(std::string key, const std::string& op);
  bool unrecognised_frame(codecs::byte_view payload, const std::string& why);

  // Messages the host starts (upstream_connection_inbound.cpp): delivered to the app, answered.
  struct inbound_delivery;
  void inbound_message(const codecs::operation& op, codecs::byte_view payload);
  // A reply no call waits for, of an operation with session.unmatched_replies: read again as that
  // inbound operation's request and delivered; false when it does not read as one.
  bool deliver_unmatched(const codecs::operation& as, codecs::byte_view payload);
  void inbound_finished(std::uint64_t epoch, const std::shared_ptr<inbound_delivery>& d,
                        const deliver_response& app);
  void send_frame(std::uint64_t epoch, const codecs::byte_buffer& frame);
  bool inbound_full() const noexcept;
  void resume_reading();

  // Session sequence numbers (upstream_connection_sequence.cpp): stamped as frames are encoded
  // for writing, checked as frames are read, saved before the batch carrying them is written.
  bool sequenced() const noexcept { return profile().session.sequence.enabled; }
  std::optional<std::string> open_sequence();
  // Stamps the next number (and the time fields) into rec; the number, 0 when none.
  // keep: the number the message carries instead (a gap fill), none taken.
  std::uint64_t stamp(const codecs::message_def& msg, codecs::record& rec, std::uint64_t keep = 0);
  // The session's verdict on the peer's message (upstream_session::incoming).
  upstream_session::incoming_verdict check_sequence(const codecs::decoded_message& d,
                                                    const codecs::record& rec);
  void save_sequence();

  // Deadlines.
  void arm_timer();
  void on_deadline();
  void expired(std::unique_ptr<tracked_call> c, bool in_flight, time_point now);

  // The session (session_host).
  void send_session(std::unique_ptr<tracked_call> message) override;
  void send_answer(const codecs::operation& op, const codecs::record& answer) override;
  void send_request(const codecs::operation& op, const codecs::record& request,
                    std::uint64_t number) override;
  // Appends msg of op encoded from rec (stamped) to the frames pending; false when it cannot be.
  bool write_message(const codecs::operation& op, const codecs::message_def& msg,
                     const codecs::record& rec, std::uint64_t keep_number);
  bool can_send() const override { return book_.can_send(); }
  void on_session(const session_outcome& outcome) override;
  void sign_on_refused(const session_outcome& outcome);
  void become_up();
  void arm_heartbeat();
  void on_heartbeat();

  // The socket's life; a listened slot waits for its host instead of connecting.
  void wait_for_host();
  void adopt(boost::asio::ip::tcp::socket socket);
  void host_ready(const std::string& who);
  void on_breaker_closed();
  void do_connect();
  bool wait_for_breaker();
  void on_tcp_connected(std::uint64_t epoch);
  void on_connected();
  void count_connect_failure(const std::string& why);
  void connect_failed(const std::string& why);
  void tls_refused_late(const std::string& why);
  void confirm_up();
  void close_socket();
  void close_and(const close_reason& reason, then next);
  void stop_for_good();
  void back_off(const std::string& why, bool failure, bool at_once);
  void protocol_failure(const std::string& why);
  void schedule_reconnect(bool at_once);
  void on_reload(std::shared_ptr<profile_bundle> b);
  void maybe_replace();
  void on_drain(time_point deadline);
  void check_drained();
  void drain_deadline_passed();

  boost::asio::io_context& ctx_;
  std::shared_ptr<upstream_shared> shared_;
  endpoint& ep_;
  connection_gauge& gauge_;
  std::shared_ptr<profile_bundle> bundle_;          // the wire this connection speaks
  std::shared_ptr<profile_bundle> decoder_bundle_;  // keeps the decoder's framer alive
  std::shared_ptr<profile_bundle> replace_with_;    // reload with another wire: once idle
  upstream_stream stream_;                          // plain TCP or TLS; a fresh one per connect
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer state_timer_;  // the connect timeout, or the backoff
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer drain_timer_;
  std::minstd_rand rng_;

  state state_ = state::connecting;
  backoff_for backoff_for_ = backoff_for::reconnect;
  std::uint64_t epoch_ = 0;  // bumped on every (re)connect and close: stale handlers bail out
  int failed_attempts_ = 0;  // connects (and sign-ons) failed in a row
  bool ever_connected_ = false;
  bool ever_up_ = false;
  bool connect_timed_out_ = false;
  bool probe_connect_ = false;  // this connect is the breaker's half-open probe
  // TLS 1.3: the host checks our certificate after our side of the handshake is done, so its
  // refusal comes as the first read. Until the host's first bytes arrive, a TLS error counts as
  // a failed connect (and toward the breaker), and being up is not yet a success.
  bool tls_unconfirmed_ = false;
  std::string last_connect_error_;
  std::optional<time_point> drain_deadline_;
  time_point last_activity_;
  time_point last_reply_at_;  // the host's last reply (to a call or to our echo)

  call_book book_;
  upstream_session session_;
  codecs::reply_finder find_by_key_;  // for decode_incoming: the call a keyed reply answers
  call_book::match match_;            // what find_by_key_ found
  time_point armed_at_ = time_point::max();
  std::uint64_t timer_gen_ = 0;

  // Frames are built into reusable buffers; one write in flight.
  codecs::byte_buffer payload_;
  codecs::byte_buffer out_pending_;
  codecs::byte_buffer out_writing_;
  bool writing_ = false;
  std::size_t answer_bytes_pending_ = 0;  // answers to the host's requests not yet in a write
  std::uint64_t batches_started_ = 0;

  std::optional<session_sequence> seq_;  // session.sequence: opened on the first connect
  std::uint64_t seq_committed_ = 1;      // the next number when the last batch went to the socket
  bool seq_save_failed_ = false;         // logged once
  std::string close_when_written_;       // the session broke: close once its last word is out
  codecs::record stamped_answer_;

  codecs::frame_reader reader_;
  codecs::record reply_;
  codecs::record unrecognised_answer_;

  // Inbound deliveries of this connection, and reading paused while they are at their bound.
  std::shared_ptr<deliver_client> deliverer_;
  std::size_t inbound_in_flight_ = 0;
  std::uint64_t inbound_seq_ = 0;
  bool read_paused_ = false;
  std::uint64_t paused_epoch_ = 0;
  std::atomic<bool> vacant_{false};  // a listened slot waiting for its host
};

}  // namespace dragoman::bridge
