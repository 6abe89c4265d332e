// QuickFIX as an independent FIX codec for tests/e2e/fix_codec_test.py: "parse" reads one message
// from stdin, which QuickFIX validates (BodyLength and CheckSum), and prints some of its fields as
// tag=value lines; "write" prints an ExecutionReport as QuickFIX serialises it. Built by the test
// with g++ -std=c++14 (QuickFIX 1.15 headers do not compile as C++17) -lquickfix -lpthread.
#include <quickfix/Message.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <iostream>
#include <iterator>
#include <string>
int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "parse") {
      std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      FIX::Message m(in, true);
      int tags[] = {35, 49, 56, 34, 11, 55, 54, 38, 40, 44, 21};
      for (int t : tags) {
        if (t == 35 || t == 49 || t == 56 || t == 34) {
          if (m.getHeader().isSetField(t))
            std::cout << t << "=" << m.getHeader().getField(t) << "\n";
        } else if (m.isSetField(t)) {
          std::cout << t << "=" << m.getField(t) << "\n";
        }
      }
      return 0;
    }
    if (mode == "write") {
      FIX44::ExecutionReport r(FIX::OrderID("O-1"), FIX::ExecID("E-1"),
                               FIX::ExecType(FIX::ExecType_TRADE),
                               FIX::OrdStatus(FIX::OrdStatus_FILLED), FIX::Side(FIX::Side_BUY),
                               FIX::LeavesQty(0), FIX::CumQty(100), FIX::AvgPx(101.5));
      r.set(FIX::ClOrdID("ORD1"));
      r.set(FIX::Symbol("IBM"));
      r.set(FIX::OrderQty(100));
      r.set(FIX::LastQty(100));
      r.set(FIX::LastPx(101.5));
      r.setField(FIX::StringField(5001, "custom"));
      r.getHeader().setField(FIX::SenderCompID("EXECUTOR"));
      r.getHeader().setField(FIX::TargetCompID("DRAGOMAN"));
      r.getHeader().setField(FIX::MsgSeqNum(7));
      r.getHeader().setField(FIX::SendingTime(FIX::UtcTimeStamp()));
      std::cout << r.toString();
      return 0;
    }
  } catch (std::exception& e) {
    std::cout << "error: " << e.what() << "\n";
    return 2;
  }
  return 1;
}
