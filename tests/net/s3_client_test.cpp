// The S3 client against s3rver, a real S3 API server, on loopback.
#include "net/s3_client.hpp"

#include "support/child_process.hpp"
#include "support/s3rver.hpp"
#include "support/silent_listener.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace medflow;
using medflow::test::closed_port;
using medflow::test::s3rver;
using medflow::test::silent_listener;

s3::options options_for(const s3rver& server) {
  s3::options o;
  o.endpoint = server.endpoint();
  o.bucket = server.bucket();
  o.access_key = s3rver::access_key;
  o.secret_key = s3rver::secret_key;
  o.timeout_ms = 10000;
  return o;
}

std::vector<std::string> list_all(const s3::client& c, const std::string& prefix, int max_keys,
                                  int* pages = nullptr) {
  std::vector<std::string> keys;
  s3::list_request req;
  req.prefix = prefix;
  req.max_keys = max_keys;
  for (int page = 0; page < 10000; ++page) {
    auto r = c.list_objects_v2(req);
    REQUIRE_MESSAGE(r.ok(), r.err().code, ": ", r.err().message);
    CHECK(static_cast<int>(r->objects.size()) <= max_keys);
    for (auto& o : r->objects) keys.push_back(o.key);
    if (pages) *pages = page + 1;
    if (!r->is_truncated) return keys;
    req.continuation_token = r->next_continuation_token;
  }
  FAIL("pagination did not end");
  return keys;
}

// (s3rver stores keys as file paths, so "a/./b", "a/../b" and "a//b" are not kept apart
// there; real S3 keeps them.)
const std::vector<std::string> awkward_keys = {
    "plain.txt",
    "with space/and more spaces.pdf",
    "plus+sign+c++.txt",
    "percent%20literal%2F.txt",
    "unicode/é ü 日本語/файл.txt",
    "2026_01/completed/result 1.pdf",
    "sym!$&'()*,;=:@~_-.bin",
    "question?x=1&y=2#frag",
};

}  // namespace

TEST_SUITE("s3_client") {
  TEST_CASE("SigV4 URI encoding") {
    CHECK(s3::uri_encode("a b+c/é~_-.", true) == "a%20b%2Bc/%C3%A9~_-.");
    CHECK(s3::uri_encode("a b+c/é~_-.", false) == "a%20b%2Bc%2F%C3%A9~_-.");
    CHECK(s3::uri_encode("%*=&", false) == "%25%2A%3D%26");
    CHECK(s3::uri_encode("", true).empty());
  }

  TEST_CASE("every operation round-trips awkward keys") {
    s3rver server;
    s3::client c(options_for(server));
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);

    for (auto& key : awkward_keys) {
      CAPTURE(key);
      auto put = c.put_object(key, binary + key, "application/pdf");
      REQUIRE_MESSAGE(put.ok(), put.err().code, ": ", put.err().message);
      auto got = c.get_object(key, 1 << 20);
      REQUIRE_MESSAGE(got.ok(), got.err().code, ": ", got.err().message);
      CHECK(*got == binary + key);
      auto head = c.head_object(key);
      REQUIRE(head.ok());
      CHECK(head->size == binary.size() + key.size());
      CHECK(head->etag.size() == 34);  // "md5hex", quotes included
    }
    auto listed = list_all(c, "", 1000);
    CHECK(std::set<std::string>(listed.begin(), listed.end()) ==
          std::set<std::string>(awkward_keys.begin(), awkward_keys.end()));

    // Server-side copy, then the source deleted: what an inbox move does. The copy source is
    // percent-encoded as S3 and its SDKs want it, and s3rver decodes it with JavaScript's
    // decodeURI, which leaves %2B, %24, %26, %3F ... encoded: keys with those characters cannot
    // be copied on s3rver (they can on S3).
    for (auto& key : awkward_keys) {
      CAPTURE(key);
      if (key.find_first_of(";,?:@&=+$#") != std::string::npos) continue;
      std::string dest = "moved/" + key;
      auto cp = c.copy_object(key, dest);
      REQUIRE_MESSAGE(cp.ok(), cp.err().code, ": ", cp.err().message);
      CHECK(*c.get_object(dest, 1 << 20) == binary + key);
      REQUIRE(c.delete_object(key).ok());
      auto gone = c.get_object(key, 1 << 20);
      REQUIRE_FALSE(gone.ok());
      CHECK(gone.err().status == 404);
      // s3rver writes a non-ASCII key into its error body as an HTML entity (&eacute;), which
      // is not XML: that body is refused and the error named after the status.
      bool ascii = std::all_of(key.begin(), key.end(), [](char ch) { return ch > 0; });
      CHECK(gone.err().code == (ascii ? "NoSuchKey" : "HttpStatus404"));
      auto head = c.head_object(key);
      REQUIRE_FALSE(head.ok());
      CHECK(head.err().code == "NotFound");
    }
    auto after = list_all(c, "moved/", 3);
    CHECK(after.size() == 5);
    CHECK(list_all(c, "plain", 1000).empty());
    // Deleting what is not there is not an error in S3.
    CHECK(c.delete_object("never/was").ok());
    // An empty object.
    REQUIRE(c.put_object("empty", "").ok());
    CHECK(c.get_object("empty", 0).value().empty());
  }

  TEST_CASE("copy of a missing source is NoSuchKey") {
    s3rver server;
    s3::client c(options_for(server));
    auto cp = c.copy_object("not/there", "dest");
    REQUIRE_FALSE(cp.ok());
    CHECK(cp.err().status == 404);
    CHECK(cp.err().code == "NoSuchKey");
    CHECK_FALSE(c.head_object("dest").ok());
  }

  TEST_CASE("pagination over more than 1,000 keys, and one level with a delimiter") {
    s3rver server;
    s3::client c(options_for(server));
    std::vector<std::string> expected;
    for (int i = 0; i < 1050; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "2026_%02d/completed/r%04d.pdf", 1 + i % 3, i);
      expected.push_back(name);
      REQUIRE(c.put_object(name, std::to_string(i)).ok());
    }
    REQUIRE(c.put_object("2026_01/processed/done.pdf", "x").ok());
    std::sort(expected.begin(), expected.end());

    int pages = 0;
    auto small = list_all(c, "2026_", 97, &pages);
    small.erase(std::remove(small.begin(), small.end(), "2026_01/processed/done.pdf"), small.end());
    CHECK(small == expected);  // every key once, in S3's (byte) order
    CHECK(pages == 11);        // 1051 keys by 97

    auto big = list_all(c, "", 1000, &pages);
    CHECK(big.size() == 1051);
    CHECK(pages == 2);

    // One level with a delimiter. (s3rver's delimiter listing misses keys two or more levels
    // below the prefix, so the root level of this layout cannot be asked of it.)
    s3::list_request folders;
    folders.prefix = "2026_01/";
    folders.delimiter = "/";
    auto inside = c.list_objects_v2(folders);
    REQUIRE(inside.ok());
    CHECK(inside->common_prefixes ==
          std::vector<std::string>{"2026_01/completed/", "2026_01/processed/"});
  }

  TEST_CASE("S3 errors come back as values") {
    s3rver server;
    auto o = options_for(server);

    s3::client c(o);
    auto missing = c.get_object("no/such/key", 100);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.err().status == 404);
    CHECK(missing.err().code == "NoSuchKey");
    CHECK_FALSE(missing.err().message.empty());

    auto nb = o;
    nb.bucket = "no-such-bucket";
    s3::client no_bucket(nb);
    for (auto err : {no_bucket.get_object("k", 100).err(), no_bucket.put_object("k", "v").err(),
                     no_bucket.list_objects_v2({}).err(), no_bucket.copy_object("a", "b").err()}) {
      CHECK(err.status == 404);
      CHECK(err.code == "NoSuchBucket");
    }

    auto bad_id = o;
    bad_id.access_key = "NOT-A-KEY";
    s3::client stranger(bad_id);
    auto denied = stranger.list_objects_v2({});
    REQUIRE_FALSE(denied.ok());
    CHECK(denied.err().status == 403);
    CHECK(denied.err().code == "InvalidAccessKeyId");

    CHECK(c.get_object("", 10).err().code == "invalid_argument");
    CHECK(c.put_object(std::string(1025, 'k'), "v").err().code == "invalid_argument");
    s3::list_request zero;
    zero.max_keys = 0;
    CHECK(c.list_objects_v2(zero).err().code == "invalid_argument");
    CHECK(c.put_object("k", "v", "text/plain\r\nX-Evil: 1").err().code == "invalid_argument");
  }

  TEST_CASE("byte cap of get_object") {
    s3rver server;
    s3::client c(options_for(server));
    std::string body(10000, 'r');
    REQUIRE(c.put_object("big", body).ok());
    auto cut = c.get_object("big", 9999);
    REQUIRE_FALSE(cut.ok());
    CHECK(cut.err().code == "too_large");
    CHECK(c.get_object("big", 10000).value() == body);
    // An error answer is not held to a tiny object cap.
    CHECK(c.get_object("missing", 1).err().code == "NoSuchKey");
  }

  // s3rver does not check SigV4 signatures; botocore's S3 signer does, through
  // tests/support/sigv4_check.py: every operation's signature is accepted with the right
  // secret and refused with a wrong one.
  TEST_CASE("signatures checked by botocore: right secret accepted, wrong secret refused") {
    test::temp_dir dir;
    test::child_process checker(
        {"/usr/bin/python3", std::string(MEDFLOW_SOURCE_DIR) + "/tests/support/sigv4_check.py",
         "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-3"},
        dir.file("sigv4.log"));
    auto port = checker.wait_for_log(std::regex("listening on 127\\.0\\.0\\.1:([0-9]+)"),
                                     std::chrono::seconds(20));
    REQUIRE_MESSAGE(port.has_value(), "sigv4_check.py did not start: ", checker.log());
    s3::options o;
    o.endpoint = "http://127.0.0.1:" + *port;
    o.region = "eu-west-3";
    o.bucket = "zmed-exams-result";
    o.access_key = "AKIDEXAMPLE";
    o.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    s3::client good(o);
    s3::list_request list;
    list.prefix = "2026_01/completed/é +";
    list.start_after = "2026_01/completed/a b";
    list.delimiter = "/";
    list.max_keys = 7;
    std::string body(3 * 1024 * 1024, 'b');  // big enough for curl's Expect: 100-continue
    for (auto& key : awkward_keys) {
      CAPTURE(key);
      auto put = good.put_object(key, body, "application/pdf");
      CHECK_MESSAGE(put.ok(), put.err().code, ": ", put.err().message);
      auto got = good.get_object(key, 100);
      CHECK_MESSAGE(got.ok(), got.err().code);
      CHECK(good.head_object(key).ok());
      CHECK(good.delete_object(key).ok());
      CHECK(good.copy_object(key, "moved/" + key).ok());
    }
    auto page = good.list_objects_v2(list);
    CHECK_MESSAGE(page.ok(), page.err().code, ": ", page.err().message);
    list.start_after.clear();
    list.continuation_token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=";
    CHECK(good.list_objects_v2(list).ok());

    o.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    s3::client wrong(o);
    for (auto err : {wrong.put_object("k", "v").err(), wrong.get_object("k", 10).err(),
                     wrong.delete_object("k").err(), wrong.copy_object("a", "b").err(),
                     wrong.list_objects_v2(list).err()}) {
      CHECK(err.status == 403);
      CHECK(err.code == "SignatureDoesNotMatch");
    }
    CHECK(wrong.head_object("k").err().status == 403);  // HEAD: no body, status only
  }

  TEST_CASE("timeouts and refused connections") {
    silent_listener silent;
    s3::options o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(silent.port());
    o.bucket = "b";
    o.access_key = "a";
    o.secret_key = "s";
    o.timeout_ms = 300;
    s3::client c(o);
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.get_object("k", 100);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "timeout");
    CHECK(r.err().status == 0);
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(3));
    CHECK(c.list_objects_v2({}).err().code == "timeout");

    o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
    CHECK(s3::client(o).put_object("k", "v").err().code == "connect_failed");
  }

  TEST_CASE("configuration errors are found at construction") {
    s3::options o;
    o.endpoint = "http://127.0.0.1:9";
    o.bucket = "b";
    o.access_key = "a";
    o.secret_key = "s";
    CHECK_NOTHROW(s3::client{o});
    auto bad = o;
    bad.endpoint = "ftp://x";
    CHECK_THROWS_AS(s3::client{bad}, std::invalid_argument);
    bad = o;
    bad.endpoint = "http://host/path";
    CHECK_THROWS_AS(s3::client{bad}, std::invalid_argument);
    bad = o;
    bad.region = "us-east-1:evil";
    CHECK_THROWS_AS(s3::client{bad}, std::invalid_argument);
    bad = o;
    bad.secret_key.clear();
    CHECK_THROWS_AS(s3::client{bad}, std::invalid_argument);
  }
}

TEST_SUITE("s3_xml") {
  TEST_CASE("a ListObjectsV2 page") {
    auto r = s3::parse_list_result(
        R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>
<Contents><Key>a &amp; b&lt;c&gt; é</Key><Size>12345678901</Size><ETag>&quot;e&quot;</ETag>
<LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>
<Contents><Key><![CDATA[x<y]]></Key><Size>0</Size></Contents>
<CommonPrefixes><Prefix>2026_01/</Prefix></CommonPrefixes></ListBucketResult>)",
        1 << 20);
    REQUIRE_MESSAGE(r.ok(), r.err().message);
    REQUIRE(r->objects.size() == 2);
    CHECK(r->objects[0].key == "a & b<c> é");
    CHECK(r->objects[0].size == 12345678901ull);
    CHECK(r->objects[0].etag == "\"e\"");
    CHECK(r->objects[0].last_modified == "2026-01-02T03:04:05.000Z");
    CHECK(r->objects[1].key == "x<y");
    CHECK(r->is_truncated);
    CHECK(r->next_continuation_token == "tok/+=");
    CHECK(r->common_prefixes == std::vector<std::string>{"2026_01/"});
  }

  TEST_CASE("hostile or broken XML is refused with a reason") {
    auto refused = [](const std::string& xml, size_t cap = 1 << 20) {
      auto r = s3::parse_list_result(xml, cap);
      return r.ok() ? std::string() : r.err().message;
    };
    std::string laughs = R"(<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<ListBucketResult><Contents><Key>&c;</Key></Contents></ListBucketResult>)";
    CHECK(refused(laughs).find("document type declaration") != std::string::npos);
    CHECK(refused(R"(<!DOCTYPE x SYSTEM "file:///etc/passwd"><ListBucketResult/>)")
              .find("document type declaration") != std::string::npos);
    std::string deep = "<ListBucketResult>";
    for (int i = 0; i < 40; ++i) deep += "<a>";
    CHECK(refused(deep).find("deeper than 16") != std::string::npos);
    CHECK(refused("<ListBucketResult/>" + std::string(100, ' '), 50).find("larger than") !=
          std::string::npos);
    CHECK(refused("<Other/>").find("unexpected") != std::string::npos);
    CHECK(refused("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>")
              .find("Contents") != std::string::npos);
    CHECK(!refused("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                   "</ListBucketResult>")
               .empty());
    CHECK(!refused("<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999999"
                   "</Size></Contents></ListBucketResult>")
               .empty());
    CHECK(refused("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
              .find("NextContinuationToken") != std::string::npos);
    CHECK(!refused("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>").empty());
    CHECK(refused("<ListBucketResult>").find("XML error") != std::string::npos);
    CHECK(!refused("").empty());
    CHECK(!refused(std::string("<ListBucketResult>\0</ListBucketResult>", 37)).empty());
    CHECK(refused("<ListBucketResult></ListBucketResult>").empty());
  }

  TEST_CASE("S3 error bodies") {
    auto e = s3::parse_error_body(
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message>"
        "<Key>k</Key></Error>",
        1 << 16);
    REQUIRE(e.has_value());
    CHECK(e->code == "NoSuchKey");
    CHECK(e->message == "gone");
    CHECK_FALSE(s3::parse_error_body("<Error><Message>m</Message></Error>", 1 << 16).has_value());
    CHECK_FALSE(s3::parse_error_body("<html>502</html>", 1 << 16).has_value());
    CHECK_FALSE(s3::parse_error_body("not xml", 1 << 16).has_value());
  }
}
