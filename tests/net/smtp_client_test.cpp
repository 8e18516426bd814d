// The SMTP client against aiosmtpd, a real SMTP server, on loopback.
#include "net/smtp_client.hpp"

#include "core/base64.hpp"
#include "support/silent_listener.hpp"
#include "support/smtp_sink.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <regex>
#include <string>

namespace {

using namespace medflow;
using medflow::test::smtp_sink;

smtp::options plain_to(const smtp_sink& sink) {
  smtp::options o;
  o.port = sink.port();
  o.tls = smtp::security::none;
  o.timeout_ms = 10000;
  return o;
}

smtp::message sample() {
  return {"exams@zmed.example", {"maria@example.org"}, "Your exam is ready", "Hello Maria.\n"};
}

struct parsed_mail {
  std::map<std::string, std::string> headers;  // unfolded, by name
  std::vector<std::string> names;              // in order
  std::string body;
};

parsed_mail parse(const std::string& data) {
  parsed_mail m;
  auto end = data.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  std::string head = data.substr(0, end + 2);
  m.body = data.substr(end + 4);
  std::string line, name;
  for (size_t i = 0; i < head.size();) {
    auto eol = head.find("\r\n", i);
    line = head.substr(i, eol - i);
    i = eol + 2;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      m.headers[name] += line;  // a continuation line, unfolded
      continue;
    }
    auto colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    name = line.substr(0, colon);
    m.names.push_back(name);
    m.headers[name] = line.substr(colon + 2);
  }
  return m;
}

// The text of a Subject made of RFC 2047 UTF-8 B encoded-words (or plain text).
std::string decode_subject(const std::string& s) {
  static const std::regex word("=\\?UTF-8\\?B\\?([A-Za-z0-9+/=]*)\\?=");
  if (s.rfind("=?", 0) != 0) return s;
  std::string out;
  for (std::sregex_iterator it(s.begin(), s.end(), word), e; it != e; ++it)
    out += *base64::decode((*it)[1].str());
  return out;
}

std::string decode_body(const parsed_mail& m) {
  if (m.headers.at("Content-Transfer-Encoding") == "7bit") return m.body;
  std::string b64;
  for (char c : m.body)
    if (c != '\r' && c != '\n') b64 += c;
  return *base64::decode(b64);
}

}  // namespace

TEST_SUITE("smtp_client") {
  TEST_CASE("an ASCII message: envelope, headers and body as received") {
    smtp_sink sink;
    smtp::client c(plain_to(sink));
    auto m = sample();
    m.to = {"maria@example.org", "clinic+copy@hospital.example"};
    // Lines that SMTP must dot-stuff, and mixed line ends.
    m.text = "Hello Maria.\n.\n..two dots\r\n.hidden\nBye";
    auto sent = c.send(m);
    REQUIRE_MESSAGE(sent.ok(), sent.err().code, ": ", sent.err().message);

    auto got = sink.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].mail_from == "exams@zmed.example");
    CHECK(got[0].rcpt_tos ==
          std::vector<std::string>{"maria@example.org", "clinic+copy@hospital.example"});
    CHECK_FALSE(got[0].tls);
    auto mail = parse(got[0].data);
    CHECK(mail.names == std::vector<std::string>{"Date", "Message-ID", "From", "To", "Subject",
                                                 "MIME-Version", "Content-Type",
                                                 "Content-Transfer-Encoding"});
    CHECK(std::regex_match(mail.headers["Date"],
                           std::regex("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
                                      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                                      "20[0-9][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] \\+0000")));
    CHECK(
        std::regex_match(mail.headers["Message-ID"], std::regex("<[0-9a-f]{32}@zmed\\.example>")));
    CHECK(mail.headers["From"] == "exams@zmed.example");
    CHECK(mail.headers["To"] == "maria@example.org, clinic+copy@hospital.example");
    CHECK(mail.headers["Subject"] == "Your exam is ready");
    CHECK(mail.headers["Content-Type"] == "text/plain; charset=utf-8");
    CHECK(mail.headers["Content-Transfer-Encoding"] == "7bit");
    CHECK(mail.body == "Hello Maria.\r\n.\r\n..two dots\r\n.hidden\r\nBye\r\n");

    // A second message gets another Message-ID.
    REQUIRE(c.send(sample()).ok());
    got = sink.received();
    REQUIRE(got.size() == 2);
    CHECK(parse(got[1].data).headers["Message-ID"] != mail.headers["Message-ID"]);
  }

  TEST_CASE("UTF-8 subject and body are encoded and arrive intact") {
    smtp_sink sink;
    smtp::client c(plain_to(sink));
    auto m = sample();
    m.subject =
        "Resultado do exame pronto: hemograma completo — ação necessária, João! "
        "日本語のテキストも少し";
    m.text = "Olá João,\nseu exame está pronto.\n" + std::string(1200, 'x') + "\n";
    REQUIRE(c.send(m).ok());
    auto got = sink.received();
    REQUIRE(got.size() == 1);
    for (char ch : got[0].data) CHECK(static_cast<unsigned char>(ch) < 0x80);  // 7-bit clean
    auto mail = parse(got[0].data);
    CHECK(decode_subject(mail.headers["Subject"]) == m.subject);
    CHECK(mail.headers["Content-Transfer-Encoding"] == "base64");
    CHECK(decode_body(mail) ==
          "Olá João,\r\nseu exame está pronto.\r\n" + std::string(1200, 'x') + "\r\n");
    // Every line within RFC 5322's limit.
    for (size_t i = 0, e; (e = got[0].data.find("\r\n", i)) != std::string::npos; i = e + 2)
      CHECK(e - i <= 998);
  }

  TEST_CASE("header injection and bad addresses are refused, nothing is sent") {
    smtp_sink sink;
    smtp::client c(plain_to(sink));
    auto refused = [&](smtp::message m) {
      auto r = c.send(m);
      return !r.ok() && r.err().code == "invalid_message" && r.err().status == 0;
    };
    auto m = sample();
    m.subject = "Hi\r\nBcc: everyone@example.org";
    CHECK(refused(m));
    m.subject = "Hi\nBcc: everyone@example.org";
    CHECK(refused(m));
    m.subject = std::string("Hi\0there", 8);
    CHECK(refused(m));
    for (const std::string& bad : std::vector<std::string>{
             "maria@example.org\r\nRCPT TO:<x@evil.example>", "maria@example.org, x@evil.example",
             "Maria <maria@example.org>", "maria@example.org>", "no-at-sign", "a@b@c.example",
             "@example.org", "maria@", "ma ria@example.org", "maria..x@example.org",
             "maria@exa_mple.org", std::string(250, 'a') + "@x.example"}) {
      CAPTURE(bad);
      auto to = sample();
      to.to = {bad};
      CHECK(refused(to));
      auto from = sample();
      from.from = bad;
      CHECK(refused(from));
    }
    auto none = sample();
    none.to.clear();
    CHECK(refused(none));
    auto big = sample();
    big.text = std::string(2 * 1024 * 1024, 'x');
    CHECK(refused(big));
    CHECK(sink.received().empty());
  }

  TEST_CASE("a recipient the server refuses is smtp_rejected with its reply code") {
    smtp_sink sink;
    smtp::client c(plain_to(sink));
    auto m = sample();
    m.to = {"nobody@reject.test"};
    auto r = c.send(m);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "smtp_rejected");
    CHECK(r.err().status == 550);
    CHECK(sink.received().empty());
  }

  TEST_CASE("STARTTLS, required and verified") {
    smtp_sink sink("starttls");
    auto o = plain_to(sink);
    o.tls = smtp::security::starttls;
    o.ca_file = sink.cert_file();
    REQUIRE(smtp::client(o).send(sample()).ok());
    auto got = sink.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].tls);
    CHECK(parse(got[0].data).headers["Subject"] == "Your exam is ready");

    // The self-signed certificate is not trusted without its CA file.
    auto untrusted = o;
    untrusted.ca_file.clear();
    auto r = smtp::client(untrusted).send(sample());
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "transport_failed");
    CHECK(sink.received().size() == 1);
  }

  TEST_CASE("STARTTLS required but not offered fails, nothing sent in clear") {
    smtp_sink sink;  // plain: no STARTTLS
    auto o = plain_to(sink);
    o.tls = smtp::security::starttls;
    o.verify_peer = false;
    auto r = smtp::client(o).send(sample());
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "transport_failed");
    CHECK(sink.received().empty());
  }

  TEST_CASE("implicit TLS (smtps) with AUTH") {
    smtp_sink sink("implicit", "exams", "s3cret");
    auto o = plain_to(sink);
    o.tls = smtp::security::implicit;
    o.ca_file = sink.cert_file();
    o.username = "exams";
    o.password = "s3cret";
    auto sent = smtp::client(o).send(sample());
    REQUIRE_MESSAGE(sent.ok(), sent.err().code, " ", sent.err().status, ": ", sent.err().message);
    auto got = sink.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].tls);
    CHECK(got[0].auth);

    auto wrong = o;
    wrong.password = "guess";
    auto r = smtp::client(wrong).send(sample());
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "smtp_rejected");
    CHECK(r.err().status == 535);
    CHECK(sink.received().size() == 1);
  }

  TEST_CASE("a server that never answers times out; a closed port is connect_failed") {
    medflow::test::silent_listener silent;
    smtp::options o;
    o.port = silent.port();
    o.tls = smtp::security::none;
    o.timeout_ms = 300;
    auto t0 = std::chrono::steady_clock::now();
    auto r = smtp::client(o).send(sample());
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "timeout");
    CHECK(took < std::chrono::seconds(3));
    o.port = medflow::test::closed_port();
    CHECK(smtp::client(o).send(sample()).err().code == "connect_failed");
  }

  TEST_CASE("render: fixed date and id") {
    auto text = smtp::render(sample(), 0, "abc123");
    REQUIRE(text.ok());
    CHECK(text->rfind("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
                      "Message-ID: <abc123@zmed.example>\r\n",
                      0) == 0);
    CHECK_FALSE(smtp::render(sample(), 0, "a>b").ok());
    CHECK_THROWS_AS(smtp::client(smtp::options{"", 25}), std::invalid_argument);
    CHECK_THROWS_AS(smtp::client(smtp::options{"host/x", 25}), std::invalid_argument);
    CHECK_THROWS_AS(smtp::client(smtp::options{"127.0.0.1", 0}), std::invalid_argument);
  }
}
