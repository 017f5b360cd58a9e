#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mgit/security/network_policy.hpp"

namespace mgit::security {
namespace {

std::string spelled(std::string_view text) {
  const auto address = parse_ipv4_any_spelling(text);
  return address ? address->to_string() : std::string("-");
}

TEST(ParseIpv4AnySpelling, ReadsEveryInetAtonForm) {
  EXPECT_EQ(spelled("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(spelled("0"), "0.0.0.0");
  EXPECT_EQ(spelled("2130706433"), "127.0.0.1");
  EXPECT_EQ(spelled("0x7f000001"), "127.0.0.1");
  EXPECT_EQ(spelled("017700000001"), "127.0.0.1");
  EXPECT_EQ(spelled("0x7f.1"), "127.0.0.1");
  EXPECT_EQ(spelled("0177.1"), "127.0.0.1");
  EXPECT_EQ(spelled("127.1"), "127.0.0.1");
  EXPECT_EQ(spelled("127.0.1"), "127.0.0.1");
  EXPECT_EQ(spelled("0x7F.0.0.0x1"), "127.0.0.1");
  EXPECT_EQ(spelled("10.0x10203"), "10.1.2.3");
  EXPECT_EQ(spelled("169.254.43518"), "169.254.169.254");
  EXPECT_EQ(spelled("0xa9fea9fe"), "169.254.169.254");
  EXPECT_EQ(spelled("4294967295"), "255.255.255.255");
}

TEST(ParseIpv4AnySpelling, RefusesWhatTheResolverWouldNotReadAsAnAddress) {
  for (const char* text :
       {"", "4294967296", "1.2.3.4.5", "256.1.1.1", "1.256.1", "08", "0x1g", "127.0.0.1.", ".1",
        "1..1", "git.example", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 x", "0x", "0x.1"}) {
    EXPECT_FALSE(parse_ipv4_any_spelling(text).has_value()) << text;
  }
}

TEST(ParseIpLiteral, TakesIpv6WithOrWithoutBracketsAndDropsTheZone) {
  EXPECT_EQ(parse_ip_literal("[::1]")->to_string(), "::1");
  EXPECT_EQ(parse_ip_literal("::ffff:127.0.0.1")->to_string(), "::ffff:127.0.0.1");
  EXPECT_EQ(parse_ip_literal("[fe80::1%25eth0]")->to_string(), "fe80::1");
  EXPECT_FALSE(parse_ip_literal("git.example").has_value());
  EXPECT_FALSE(parse_ip_literal("[::g]").has_value());
}

struct Case {
  const char* host;
  const char* rule;  ///< empty: allowed
};

void expect_default_policy(const std::vector<Case>& cases) {
  const NetworkPolicy policy;
  for (const auto& [host, rule] : cases) {
    const auto denial = policy.check_host(host);
    if (std::string(rule).empty()) {
      EXPECT_FALSE(denial) << host << ": " << denial->message;
    } else {
      ASSERT_TRUE(denial) << host;
      EXPECT_EQ(denial->rule, rule) << host << ": " << denial->message;
    }
  }
}

TEST(NetworkPolicy, DeniesEverySpellingOfLoopbackAndUnspecified) {
  expect_default_policy({{"127.0.0.1", "loopback"},
                         {"127.1", "loopback"},
                         {"2130706433", "loopback"},
                         {"0x7f.1", "loopback"},
                         {"0177.1", "loopback"},
                         {"0x7f000001", "loopback"},
                         {"127.255.255.254", "loopback"},
                         {"127.0.0.1.", "loopback"},
                         {"[::1]", "loopback"},
                         {"::1", "loopback"},
                         {"[0:0:0:0:0:0:0:1]", "loopback"},
                         {"[::ffff:127.0.0.1]", "loopback"},
                         {"[::ffff:7f00:1]", "loopback"},
                         {"[::127.0.0.1]", "loopback"},
                         {"[64:ff9b::127.0.0.1]", "loopback"},
                         {"[2002:7f00:1::]", "loopback"},
                         {"0", "unspecified"},
                         {"0.0.0.0", "unspecified"},
                         {"0x0", "unspecified"},
                         {"[::]", "unspecified"},
                         {"[::ffff:0.0.0.0]", "unspecified"}});
}

TEST(NetworkPolicy, DeniesPrivateSharedLinkLocalAndUniqueLocal) {
  expect_default_policy({{"10.0.0.5", "private"},
                         {"10.1", "private"},
                         {"0xa000005", "private"},
                         {"012.0.0.5", "private"},
                         {"172.16.0.1", "private"},
                         {"172.31.255.255", "private"},
                         {"192.168.1.1", "private"},
                         {"3232235777", "private"},
                         {"[::ffff:10.0.0.5]", "private"},
                         {"[::ffff:192.168.1.1]", "private"},
                         {"100.64.0.1", "cgnat"},
                         {"100.127.255.255", "cgnat"},
                         {"169.254.1.1", "link-local"},
                         {"[fe80::1]", "link-local"},
                         {"[febf::1]", "link-local"},
                         {"[fec0::1]", "site-local"},
                         {"[fd00::1]", "unique-local"},
                         {"[fc00::1]", "unique-local"},
                         {"[fdff:ffff::1]", "unique-local"}});
}

TEST(NetworkPolicy, DeniesMulticastBroadcastAndReservedRanges) {
  expect_default_policy({{"224.0.0.1", "multicast"},
                         {"239.255.255.250", "multicast"},
                         {"[ff02::1]", "multicast"},
                         {"255.255.255.255", "broadcast"},
                         {"4294967295", "broadcast"},
                         {"240.0.0.1", "reserved"},
                         {"192.0.2.1", "reserved"},
                         {"198.51.100.7", "reserved"},
                         {"203.0.113.9", "reserved"},
                         {"198.18.0.1", "reserved"},
                         {"192.0.0.8", "reserved"},
                         {"[2001:db8::1]", "reserved"},
                         {"[2001::1]", "reserved"},
                         {"[64:ff9b:1::1]", "reserved"},
                         {"[100::1]", "reserved"},
                         {"[::8.8.8.8]", "reserved"}});
}

TEST(NetworkPolicy, DeniesCloudMetadataNamesAndAddresses) {
  expect_default_policy({{"169.254.169.254", "metadata-address"},
                         {"169.254.43518", "metadata-address"},
                         {"0xa9fea9fe", "metadata-address"},
                         {"2852039166", "metadata-address"},
                         {"[::ffff:169.254.169.254]", "metadata-address"},
                         {"[::ffff:a9fe:a9fe]", "metadata-address"},
                         {"169.254.170.2", "metadata-address"},
                         {"100.100.100.200", "metadata-address"},
                         {"[fd00:ec2::254]", "metadata-address"},
                         {"metadata.google.internal", "metadata-name"},
                         {"METADATA.Google.Internal.", "metadata-name"},
                         {"metadata", "metadata-name"},
                         {"metadata.goog", "metadata-name"},
                         {"instance-data", "metadata-name"}});
}

TEST(NetworkPolicy, LetsPublicAddressesAndNamesThrough) {
  expect_default_policy({{"github.com", ""},
                         {"8.8.8.8", ""},
                         {"[2606:4700::1111]", ""},
                         {"[::ffff:8.8.8.8]", ""},
                         {"[64:ff9b::8.8.8.8]", ""},
                         {"100.63.255.255", ""},
                         {"172.32.0.1", ""},
                         {"localhost", ""}});  // a name: its addresses are checked
}

TEST(NetworkPolicy, MessagesNameTheHostTheAddressAndTheRule) {
  const NetworkPolicy policy;
  const auto by_name = policy.check_address("Git.Example", *parse_ip_literal("10.0.0.5"));
  ASSERT_TRUE(by_name);
  // The name, never the address it resolved to (no DNS oracle through results).
  EXPECT_EQ(by_name->message,
            "an address of git.example is private (RFC 1918); a network_allow entry opens it");
  const auto written = policy.check_host("0x7f.1");
  ASSERT_TRUE(written);
  EXPECT_EQ(written->message,
            "address 127.0.0.1 (written 0x7f.1) is loopback (127.0.0.0/8); a network_allow entry "
            "opens it");
  const auto embedded = policy.check_host("[::ffff:127.0.0.1]");
  ASSERT_TRUE(embedded);
  EXPECT_NE(embedded->message.find("embeds 127.0.0.1, which is loopback"), std::string::npos)
      << embedded->message;
  const auto metadata = policy.check_host("169.254.169.254");
  ASSERT_TRUE(metadata);
  EXPECT_NE(metadata->message.find("exactly 169.254.169.254/32"), std::string::npos);
}

TEST(NetworkPolicy, AllowlistGlobsOpenTheAddressesOfTheNamesTheyMatch) {
  const auto policy =
      NetworkPolicy::parse({"git.internal.example", "*.corp.example", "Build.Example."});
  ASSERT_TRUE(policy) << policy.error();
  const auto ten = *parse_ip_literal("10.0.0.5");
  EXPECT_FALSE(policy->check_address("git.internal.example", ten));
  EXPECT_FALSE(policy->check_address("GIT.internal.example.", ten));
  EXPECT_FALSE(policy->check_address("a.corp.example", ten));
  EXPECT_FALSE(policy->check_address("a.b.corp.example", ten));
  EXPECT_FALSE(policy->check_address("build.example", ten));
  EXPECT_TRUE(policy->check_address("corp.example", ten));  // `*.` needs a label
  EXPECT_TRUE(policy->check_address("xcorp.example", ten));
  EXPECT_TRUE(policy->check_address("internal.example", ten));
  EXPECT_TRUE(policy->check_address("other.example", ten));
  // A name never opens a literal, nor a metadata address it resolves to.
  EXPECT_TRUE(policy->check_host("10.0.0.5"));
  const auto metadata =
      policy->check_address("a.corp.example", *parse_ip_literal("169.254.169.254"));
  ASSERT_TRUE(metadata);
  EXPECT_EQ(metadata->rule, "metadata-address");
}

TEST(NetworkPolicy, AllowlistCidrsOpenTheirAddressesAndTheirEmbeddedForms) {
  const auto policy = NetworkPolicy::parse({"127.0.0.1/32", "10.20.0.0/16", "fd12::/48", "::1"});
  ASSERT_TRUE(policy) << policy.error();
  EXPECT_FALSE(policy->check_host("127.0.0.1"));
  EXPECT_FALSE(policy->check_host("0x7f.1"));
  EXPECT_FALSE(policy->check_host("[::ffff:127.0.0.1]"));
  EXPECT_FALSE(policy->check_host("[::1]"));
  EXPECT_FALSE(policy->check_host("10.20.3.4"));
  EXPECT_FALSE(policy->check_host("[fd12::7]"));
  EXPECT_TRUE(policy->check_host("127.0.0.2"));
  EXPECT_TRUE(policy->check_host("10.21.0.1"));
  EXPECT_TRUE(policy->check_host("[fd13::7]"));
  EXPECT_FALSE(policy->check_address("anything.example", *parse_ip_literal("10.20.0.1")));
}

TEST(NetworkPolicy, OnlyAnExactEntryOpensMetadata) {
  const auto wide = NetworkPolicy::parse({"169.254.0.0/16", "fd00::/8", "*.google.internal"});
  ASSERT_TRUE(wide) << wide.error();
  EXPECT_FALSE(wide->check_host("169.254.1.1"));
  EXPECT_EQ(wide->check_host("169.254.169.254")->rule, "metadata-address");
  EXPECT_EQ(wide->check_host("[fd00:ec2::254]")->rule, "metadata-address");
  EXPECT_EQ(wide->check_host("metadata.google.internal")->rule, "metadata-name");

  const auto exact = NetworkPolicy::parse({"169.254.169.254/32", "metadata.google.internal"});
  ASSERT_TRUE(exact) << exact.error();
  EXPECT_FALSE(exact->check_host("169.254.169.254"));
  EXPECT_FALSE(exact->check_host("[::ffff:169.254.169.254]"));
  EXPECT_FALSE(exact->check_host("metadata.google.internal"));
  EXPECT_FALSE(
      exact->check_address("metadata.google.internal", *parse_ip_literal("169.254.169.254")));
  EXPECT_EQ(exact->check_host("169.254.170.2")->rule, "metadata-address");
}

TEST(NetworkPolicy, RefusesMalformedEntriesNamingThem) {
  for (const char* entry : {"", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "::/129", "0x7f.1",
                            "127.1", "git.example:443", "https://git.example", "*", "*.",
                            "a.*.example", "git..example", "git example", "10.0.0.0/8/8"}) {
    const auto policy = NetworkPolicy::parse({entry});
    ASSERT_FALSE(policy) << entry;
    EXPECT_NE(policy.error().find("network_allow"), std::string::npos) << policy.error();
  }
  EXPECT_EQ(NetworkPolicy::parse({"10.0.0.1/8"}).error(),
            "network_allow: '10.0.0.1/8' has bits set after the prefix (did you mean 10.0.0.0/8?)");
}

}  // namespace
}  // namespace mgit::security
