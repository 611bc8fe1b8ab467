// CallGate: a gRPC server interceptor for tests that holds the first call to
// one method at one interception point until the test opens the gate, so a
// test can act while the server has a call in hand instead of sleeping and
// hoping it has.
//
//   testing::CallGate gate("/strata.v1.InferenceService/Encode",
//                          testing::CallGate::Point::POST_RECV_MESSAGE);
//   TestServer t("name", [&](StrataServer::Options* o) {
//     o->interceptors_for_test = gate.Interceptors();
//   });
//   absl::Cleanup open_gate = [&] { gate.Open(); };  // before t goes away
//   std::thread caller([&] { ... t.client->Encode(request) ... });
//   ASSERT_TRUE(gate.WaitUntilHeld());  // the server has read the request
//   ...                                  // what must happen meanwhile
//   gate.Open();                         // the call goes on
//
// A held call blocks one gRPC thread, for at most kMaxHold, so that a test
// that fails before opening the gate cannot hang the server. Thread-safe.
#ifndef STRATA_TESTS_TESTING_CALL_GATE_H_
#define STRATA_TESTS_TESTING_CALL_GATE_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/strata_server.h"

namespace strata::testing {

class CallGate {
 public:
  using Point = grpc::experimental::InterceptionHookPoints;
  static constexpr absl::Duration kMaxHold = absl::Seconds(60);

  // `method` as gRPC names it: "/strata.v1.InferenceService/Encode".
  CallGate(std::string method, Point point)
      : state_(std::make_shared<State>(std::move(method), point)) {}
  ~CallGate() { Open(); }

  // For StrataServer::Options::interceptors_for_test.
  std::function<StrataServer::InterceptorFactories()> Interceptors() const {
    return [state = state_] {
      StrataServer::InterceptorFactories factories;
      factories.push_back(std::make_unique<Factory>(state));
      return factories;
    };
  }

  // Blocks until a call is held at the point; false if none is within kMaxHold.
  bool WaitUntilHeld() {
    absl::MutexLock lock(&state_->mu);
    return state_->mu.AwaitWithTimeout(absl::Condition(&state_->held), kMaxHold);
  }

  // Lets the held call go on; later calls pass freely. Idempotent.
  void Open() {
    absl::MutexLock lock(&state_->mu);
    state_->open = true;
  }

 private:
  struct State {
    State(std::string m, Point p) : method(std::move(m)), point(p) {}
    const std::string method;
    const Point point;
    absl::Mutex mu;
    bool held ABSL_GUARDED_BY(mu) = false;  // a call has reached the point
    bool open ABSL_GUARDED_BY(mu) = false;

    // Holds the first call only.
    void Hold() {
      absl::MutexLock lock(&mu);
      if (held || open) return;
      held = true;
      mu.AwaitWithTimeout(absl::Condition(&open), kMaxHold);
    }
  };

  class Interceptor : public grpc::experimental::Interceptor {
   public:
    Interceptor(std::shared_ptr<State> state, bool matches)
        : state_(std::move(state)), matches_(matches) {}
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      if (matches_ && methods->QueryInterceptionHookPoint(state_->point)) state_->Hold();
      methods->Proceed();
    }

   private:
    const std::shared_ptr<State> state_;
    const bool matches_;
  };

  class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit Factory(std::shared_ptr<State> state) : state_(std::move(state)) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(
        grpc::experimental::ServerRpcInfo* info) override {
      return new Interceptor(state_, info->method() != nullptr && info->method() == state_->method);
    }

   private:
    const std::shared_ptr<State> state_;
  };

  const std::shared_ptr<State> state_;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_CALL_GATE_H_
