// The local user database (issue 6): round trip through the file, PBKDF2 verification,
// the sealed NT hash, a wrong key file and corrupted entries refused naming the user and
// the key, atomic saves, input validation, static IPs outside the pools, [ike] keys.
#include "control/common/atomic_file.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ms_crypto.hpp"
#include "control/ike/user_db.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace espgw::ike;
namespace fs = std::filesystem;

namespace {

struct TmpDir {
    fs::path dir;
    TmpDir() {
        char tmpl[] = "/tmp/espgw-userdb-XXXXXX";
        dir = mkdtemp(tmpl);
    }
    ~TmpDir() { fs::remove_all(dir); }
    std::string file(const char* name) const { return (dir / name).string(); }
};

std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void spit(const std::string& p, const std::string& text) { std::ofstream(p) << text; }

User alice() {
    User u;
    u.name = "alice";
    u.real_name = "Alice Émile Example";
    u.email = "Alice@Example.com";
    u.static_ip = 0x0a620005;  // 10.98.0.5
    u.groups = {"staff", "vpn-admins"};
    return u;
}

UserDb fresh(const TmpDir& t) {
    UserDb db = UserDb::load(t.file("users.toml"), t.file("users.key"));
    db.set_pbkdf2_iterations(1000);  // fast tests; the daemon uses 100000
    return db;
}

std::string expect_load_error(const TmpDir& t) {
    try {
        (void)UserDb::load(t.file("users.toml"), t.file("users.key"));
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(loaded)";
}

}  // namespace

TEST_CASE("user database round trip through the file: attributes, hashes, no plaintext", "[ike][userdb]") {
    TmpDir t;
    {
        UserDb db = fresh(t);
        CHECK(db.users().empty());
        db.upsert(alice(), "s3cret pässword");
        User bob;
        bob.name = "bob.smith";
        db.upsert(bob, "hunter2hunter2");
        REQUIRE(db.set_enabled("bob.smith", false));
        std::string err;
        REQUIRE(db.save(&err));
    }
    struct stat st {};
    REQUIRE(stat(t.file("users.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(stat(t.file("users.toml").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string text = slurp(t.file("users.toml"));
    CHECK(text.find("s3cret") == std::string::npos);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("pbkdf2-sha256$1000$") != std::string::npos);
    // The NT hash is sealed: its plaintext hex is not in the file.
    const auto nt = nt_password_hash("s3cret pässword");
    CHECK(text.find(ike_test::hex(nt.bytes())) == std::string::npos);

    UserDb db = UserDb::load(t.file("users.toml"), t.file("users.key"));
    REQUIRE(db.users().size() == 2);
    const User* a = db.find("alice");
    REQUIRE(a != nullptr);
    CHECK(a->real_name == "Alice Émile Example");
    CHECK(a->email == "Alice@Example.com");
    CHECK(a->static_ip == std::optional<uint32_t>(0x0a620005));
    CHECK(a->groups == std::vector<std::string>{"staff", "vpn-admins"});
    CHECK(a->enabled);
    CHECK(db.find("alice@example.COM") == a);  // e-mail: case-insensitive
    CHECK(db.find("Alice") == nullptr);        // name: case-sensitive
    CHECK(db.find("nobody") == nullptr);
    const User* b = db.find("bob.smith");
    REQUIRE(b != nullptr);
    CHECK_FALSE(b->enabled);
    CHECK_FALSE(b->static_ip);
    CHECK(b->groups.empty());
}

TEST_CASE("verify_password checks the PBKDF2 hash; nt_hash unseals to NtPasswordHash", "[ike][userdb]") {
    TmpDir t;
    UserDb db = fresh(t);
    db.upsert(alice(), "clientPass");
    const User* a = db.find("alice");
    REQUIRE(a != nullptr);
    CHECK(db.verify_password(*a, "clientPass"));
    CHECK_FALSE(db.verify_password(*a, "clientpass"));
    CHECK_FALSE(db.verify_password(*a, ""));
    User ghost;
    ghost.name = "ghost";
    ghost.password_hash = a->password_hash;
    CHECK_FALSE(db.verify_password(ghost, "clientPass"));  // unknown user
    const auto nt = db.nt_hash(*a);
    REQUIRE(nt);
    CHECK(ike_test::hex(nt->bytes()) == "44ebba8d5312b8d611474411f56989ae");  // RFC 2759 §9.2
    // passwd: the old password stops working, the new NT hash follows.
    REQUIRE(db.set_password("alice", "another one"));
    a = db.find("alice");
    CHECK_FALSE(db.verify_password(*a, "clientPass"));
    CHECK(db.verify_password(*a, "another one"));
    CHECK(ike_test::hex(db.nt_hash(*a)->bytes()) == ike_test::hex(nt_password_hash("another one").bytes()));
    CHECK_FALSE(db.set_password("nobody", "x"));
    CHECK_FALSE(db.set_enabled("nobody", false));
    CHECK_FALSE(db.remove("nobody"));
    CHECK(db.remove("alice"));
    CHECK(db.find("alice") == nullptr);
}

TEST_CASE("a wrong key file is refused naming the user and the key file", "[ike][userdb]") {
    TmpDir t;
    {
        UserDb db = fresh(t);
        db.upsert(alice(), "clientPass");
        REQUIRE(db.save(nullptr));
    }
    fs::remove(t.file("users.key"));  // a new key is made: the sealed hash no longer opens
    const std::string err = expect_load_error(t);
    CHECK(err.find("user alice") != std::string::npos);
    CHECK(err.find("nt_hash") != std::string::npos);
    CHECK(err.find(t.file("users.key")) != std::string::npos);
    // A key file others may read is refused.
    chmod(t.file("users.key").c_str(), 0644);
    CHECK(expect_load_error(t).find("chmod 600") != std::string::npos);
    spit(t.file("users.key"), "not hex\n");
    chmod(t.file("users.key").c_str(), 0600);
    CHECK(expect_load_error(t).find("64 hex digits") != std::string::npos);
}

TEST_CASE("corrupted user files are refused with the user and the key named", "[ike][userdb]") {
    TmpDir t;
    {
        UserDb db = fresh(t);
        db.upsert(alice(), "clientPass");
        User bob;
        bob.name = "bob";
        db.upsert(bob, "bobbobbob");
        REQUIRE(db.save(nullptr));
    }
    const std::string good = slurp(t.file("users.toml"));
    auto with = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        const size_t at = s.find(from);
        REQUIRE(at != std::string::npos);
        s.replace(at, from.size(), to);
        spit(t.file("users.toml"), s);
        return expect_load_error(t);
    };
    CHECK(with("static_ip = \"10.98.0.5\"", "static_ip = \"10.98.0.500\"").find("user alice: static_ip") !=
          std::string::npos);
    CHECK(with("enabled = true", "enabled = \"yes\"").find(": enabled") != std::string::npos);
    CHECK(with("password = \"pbkdf2-sha256$1000$", "password = \"md5$1000$").find("user alice: password") !=
          std::string::npos);
    CHECK(with("email = \"Alice@Example.com\"", "email = \"no-at-sign\"").find("user alice") != std::string::npos);
    CHECK(with("groups = [\"staff\"", "groups = [\"st aff\"").find("group name") != std::string::npos);
    CHECK(with("enabled = true", "enabled = true\ncolour = \"red\"").find("user alice: colour: unknown key") !=
          std::string::npos);
    CHECK(with("[users.\"alice\"]", "[users.\"al ice\"]").find("user al ice") != std::string::npos);
    CHECK(with("[users.\"alice\"]", "[users.\"alice\"").find("TOML syntax error") != std::string::npos);
    // A flipped character in the sealed hash: authentication fails.
    const size_t nt = good.find("nt_hash = \"aes256gcm$");
    REQUIRE(nt != std::string::npos);
    std::string s = good;
    const size_t pos = s.find('"', nt + 30) - 5;
    s[pos] = s[pos] == 'A' ? 'B' : 'A';
    spit(t.file("users.toml"), s);
    std::string err = expect_load_error(t);
    CHECK(err.find("nt_hash") != std::string::npos);
    CHECK(err.find(t.file("users.key")) != std::string::npos);
    // Alice's sealed hash moved to bob: the name is authenticated, so it does not open.
    const std::string alice_nt = good.substr(nt, good.find('\n', nt) - nt);
    const size_t bob_nt = good.find("nt_hash", good.find("[users.\"bob\"]"));
    s = good;
    s.replace(bob_nt, s.find('\n', bob_nt) - bob_nt, alice_nt);
    spit(t.file("users.toml"), s);
    err = expect_load_error(t);
    CHECK(err.find("user bob: nt_hash") != std::string::npos);
    // The error never echoes secrets.
    CHECK(err.find("aes256gcm$") == std::string::npos);
}

TEST_CASE("save is atomic: a failed write leaves the old file", "[ike][userdb]") {
    TmpDir t;
    UserDb db = fresh(t);
    db.upsert(alice(), "clientPass");
    REQUIRE(db.save(nullptr));
    const std::string before = slurp(t.file("users.toml"));
    db.remove("alice");
    // The temporary file cannot be created (a directory sits in its place).
    fs::create_directory(t.file("users.toml.tmp"));
    std::string err;
    CHECK_FALSE(db.save(&err));
    CHECK(err.find("users.toml.tmp") != std::string::npos);
    CHECK(slurp(t.file("users.toml")) == before);
    fs::remove(t.file("users.toml.tmp"));
    REQUIRE(db.save(&err));
    CHECK(slurp(t.file("users.toml")).find("alice") == std::string::npos);
    CHECK_FALSE(fs::exists(t.file("users.toml.tmp")));
    // The shared helper: same behaviour for any file.
    CHECK(espgw::write_file_atomic(t.file("x"), "one", 0640, &err));
    struct stat st {};
    REQUIRE(stat(t.file("x").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    CHECK_FALSE(espgw::write_file_atomic(t.file("nodir/x"), "two", 0600, &err));
    CHECK(err.find("No such file") != std::string::npos);
}

TEST_CASE("user input is validated: names, e-mails, uniqueness, passwords, static IPs", "[ike][userdb]") {
    TmpDir t;
    UserDb db = fresh(t);
    db.upsert(alice(), "clientPass");
    auto bad = [&](User u, const std::string& pw = "password1") {
        try {
            db.upsert(std::move(u), pw);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    User u;
    u.name = "carol";
    for (const char* n : {"", "-carol", "car ol", "carol/x", "carol\n", "ca\"rol"}) {
        u.name = n;
        CHECK(bad(u).find("user name") != std::string::npos);
    }
    u.name = std::string(65, 'c');
    CHECK(bad(u).find("1 to 64") != std::string::npos);
    u.name = "carol";
    for (const char* e : {"carol", "@x", "carol@", "a@b@c", "car ol@x", "carol@x..y", "carol@x\n"}) {
        u.email = e;
        CHECK(bad(u).find("e-mail") != std::string::npos);
    }
    u.email = "alice@example.com";
    CHECK(bad(u).find("used by user alice") != std::string::npos);
    u.email.clear();
    u.static_ip = 0x0a620005;
    CHECK(bad(u).find("used by user alice") != std::string::npos);
    u.static_ip = 0xe0000001;  // 224.0.0.1
    CHECK(bad(u).find("unicast") != std::string::npos);
    u.static_ip.reset();
    u.real_name = "tab\there";
    CHECK(bad(u).find("real name") != std::string::npos);
    u.real_name.clear();
    CHECK(bad(u, "").find("empty password") != std::string::npos);
    CHECK(bad(u, "bad\xff utf8").find("UTF-8") != std::string::npos);
    CHECK(bad(u, std::string(257, 'x')).find("256") != std::string::npos);
    CHECK(bad(u, "good password") == "(accepted)");
    CHECK(db.find("carol") != nullptr);
    // update keeps the password.
    User c = *db.find("carol");
    c.groups = {"ops"};
    REQUIRE(db.update(c));
    CHECK(db.verify_password(*db.find("carol"), "good password"));
    CHECK(db.find("carol")->groups == std::vector<std::string>{"ops"});
    c.name = "nobody";
    CHECK_FALSE(db.update(c));
}

TEST_CASE("static IPs must lie outside every pool, naming the user", "[ike][userdb]") {
    TmpDir t;
    UserDb db = fresh(t);
    db.upsert(alice(), "clientPass");  // 10.98.0.5
    std::map<std::string, PoolConfig> pools;
    pools["rw"] = PoolConfig{"rw", "10.99.0.0/24", {}};
    CHECK_NOTHROW(check_static_ips(db, pools));
    pools["staff"] = PoolConfig{"staff", "10.98.0.0/28", {}};
    try {
        check_static_ips(db, pools);
        FAIL("accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("user alice: static_ip 10.98.0.5 lies inside pool staff") != std::string::npos);
    }
    CHECK(!static_ip_conflict(0x0a630000, pools).empty());  // the network address counts too
    CHECK(!static_ip_conflict(0x0a6300ff, pools).empty());  // and the broadcast address
    CHECK(static_ip_conflict(0x0a630100, pools).empty());
}

TEST_CASE("[ike] users_file and users_key_file", "[ike][userdb][config]") {
    const std::string conn = R"(
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "0123456789abcdef"
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
)";
    auto cfg = parse_config("[ike]\nusers_file = \"/etc/espgw/users.toml\"\n" + conn);
    CHECK(cfg.users_file == "/etc/espgw/users.toml");
    CHECK(cfg.users_key_file == "/etc/espgw/users.toml.key");
    cfg = parse_config("[ike]\nusers_file = \"/a/u.toml\"\nusers_key_file = \"/b/k\"\n" + conn);
    CHECK(cfg.users_key_file == "/b/k");
    CHECK(parse_config(conn).users_file.empty());
    auto err = [&](const std::string& ike) {
        try {
            parse_config("[ike]\n" + ike + conn);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    CHECK(err("users_file = 3\n").find("ike.users_file") != std::string::npos);
    CHECK(err("users_file = \"\"\n").find("ike.users_file") != std::string::npos);
    CHECK(err("users_key_file = \"/k\"\n").find("ike.users_key_file: needs ike.users_file") != std::string::npos);
    CHECK(err("users_file = \"/u\"\nusers_key_file = \"/u\"\n").find("ike.users_key_file") != std::string::npos);
}

// ---- `user ...` on the CLI socket (control_users.cpp), in process ----

#include "control/ike/control_commands.hpp"
#include "peer.hpp"

TEST_CASE("CLI user commands change the live database, save it, and never answer hashes", "[ike][userdb][ctl]") {
    TmpDir t;
    const std::string conf = t.file("ike.toml");
    spit(conf, std::string("[ike]\nusers_file = \"") + t.file("users.toml") + "\"\n" +
                   std::string(ike_test::kConfig).substr(std::string(ike_test::kConfig).find("listen")));
    IkeConfig cfg = load_config(conf);
    ike_test::CaptureTransport tx;
    ike_test::RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    IkeControl ctl(cfg, mgr, conf);
    CHECK(ctl.answer("user list").find("no local user database") != std::string::npos);  // not attached
    UserDb users = load_users(cfg);
    users.set_pbkdf2_iterations(1000);
    ctl.set_users(&users);
    CHECK(ctl.answer("user list") == "[]");
    CHECK(ctl.answer("user add alice password=s3cret%20pw real_name=Alice%20Example email=alice@example.com "
                     "static_ip=10.98.0.5 groups=staff,ops") == R"({"ok":true,"user":"alice","users":1})");
    REQUIRE(users.find("alice") != nullptr);
    CHECK(users.verify_password(*users.find("alice"), "s3cret pw"));
    const std::string show = ctl.answer("user show alice");
    CHECK(show == R"({"name":"alice","real_name":"Alice Example","email":"alice@example.com","static_ip":"10.98.0.5",)"
                  R"("groups":"staff,ops","enabled":true,"mschapv2":true})");
    CHECK(ctl.answer("user list").find("pbkdf2") == std::string::npos);
    CHECK(ctl.answer("user list").find("aes256gcm") == std::string::npos);
    // Saved: a fresh load sees alice.
    CHECK(UserDb::load(t.file("users.toml"), t.file("users.toml.key")).find("alice") != nullptr);
    // Errors: codes follow the protocol (bad_request: malformed; refused: state).
    CHECK(ctl.answer("user add alice password=x").find("\"code\":\"refused\"") != std::string::npos);
    CHECK(ctl.answer("user add bob password=x static_ip=10.1.2.300").find("\"code\":\"bad_request\"") != std::string::npos);
    const std::string in_pool = ctl.answer("user add bob password=x static_ip=10.99.0.7");
    CHECK(in_pool.find("\"code\":\"refused\"") != std::string::npos);
    CHECK(in_pool.find("user bob: static_ip 10.99.0.7 lies inside pool rw") != std::string::npos);
    CHECK(ctl.answer("user add bob password=x email=alice@EXAMPLE.com").find("used by user alice") != std::string::npos);
    CHECK(ctl.answer("user add bob").find("password is required") != std::string::npos);
    CHECK(ctl.answer("user add b%20ob password=x").find("\"code\":\"bad_request\"") != std::string::npos);
    CHECK(ctl.answer("user add bob password=%zz").find("percent-encoding") != std::string::npos);
    CHECK(ctl.answer("user add bob password=x colour=red").find("unexpected argument \\\"colour\\\"") !=
          std::string::npos);
    CHECK(ctl.answer("user passwd nobody password=x").find("no user named") != std::string::npos);
    CHECK(ctl.answer("user frobnicate alice").find("\"code\":\"unknown_command\"") != std::string::npos);
    CHECK(ctl.answer("user show").find("needs a user name") != std::string::npos);
    // passwd, disable, set, del.
    CHECK(ctl.answer("user passwd alice password=n%C3%AAw") == R"({"ok":true,"user":"alice","users":1})");
    CHECK(users.verify_password(*users.find("alice"), "nêw"));
    CHECK(ctl.answer("user disable alice").starts_with("{\"ok\":true"));
    CHECK_FALSE(users.find("alice")->enabled);
    CHECK(ctl.answer("user set alice groups=admins static_ip=none enabled=1").starts_with("{\"ok\":true"));
    CHECK(users.find("alice")->groups == std::vector<std::string>{"admins"});
    CHECK_FALSE(users.find("alice")->static_ip);
    CHECK(users.find("alice")->enabled);
    CHECK(users.verify_password(*users.find("alice"), "nêw"));  // set keeps the password
    // A failed save changes nothing (the temporary file cannot be created).
    fs::create_directory(t.file("users.toml.tmp"));
    CHECK(ctl.answer("user del alice").find("cannot save the user database") != std::string::npos);
    CHECK(users.find("alice") != nullptr);
    fs::remove(t.file("users.toml.tmp"));
    CHECK(ctl.answer("user del alice") == R"({"ok":true,"user":"alice","users":0})");
    CHECK(users.find("alice") == nullptr);
    // reload re-reads the file: a broken one is refused and the live database stays.
    CHECK(ctl.answer("user add carol password=pw") == R"({"ok":true,"user":"carol","users":1})");
    const std::string good = slurp(t.file("users.toml"));
    spit(t.file("users.toml"), good + "\n[users.\"dave\"]\nenabled = maybe\n");
    const std::string refused = ctl.answer("reload");
    CHECK(refused.find("user database refused") != std::string::npos);
    CHECK(users.find("carol") != nullptr);
    spit(t.file("users.toml"), good + "\n[users.\"dave\"]\npassword = " +
                                   good.substr(good.find("\"pbkdf2"), good.find('\n', good.find("\"pbkdf2")) -
                                                                           good.find("\"pbkdf2")) + "\n");
    CHECK(ctl.answer("reload") == R"({"ok":true,"connections":1,"users":2})");
    CHECK(users.find("dave") != nullptr);
    CHECK(users.verify_password(*users.find("dave"), "pw"));  // carol's hash copied by hand
}

TEST_CASE("config/users.example.toml loads as documented", "[ike][userdb]") {
    TmpDir t;
    UserDb db = UserDb::load(std::string(ESPGW_SOURCE_ROOT) + "/config/users.example.toml", t.file("k"));
    const User* a = db.find("alice@example.com");
    REQUIRE(a != nullptr);
    CHECK(a->name == "alice");
    CHECK_FALSE(a->enabled);
    CHECK(db.verify_password(*a, "change-me"));
    CHECK_FALSE(db.nt_hash(*a));
}

TEST_CASE("UserDb::parse checks text with a given key and has no file to save to", "[ike][userdb]") {
    TmpDir t;
    {
        UserDb db = fresh(t);
        db.upsert(alice(), "clientPass");
        REQUIRE(db.save(nullptr));
    }
    const std::string text = slurp(t.file("users.toml"));
    std::string hexkey = slurp(t.file("users.key"));
    hexkey.pop_back();
    const auto key = espgw::crypto::SecretBytes::from_hex(hexkey);
    UserDb db = UserDb::parse(text, key.bytes());
    REQUIRE(db.find("alice") != nullptr);
    CHECK(ike_test::hex(db.nt_hash(*db.find("alice"))->bytes()) == "44ebba8d5312b8d611474411f56989ae");
    std::string err;
    CHECK_FALSE(db.save(&err));
    const std::vector<uint8_t> other(32, 7);
    CHECK_THROWS_WITH(UserDb::parse(text, other), Catch::Contains("user alice: nt_hash"));
    CHECK_THROWS_WITH(UserDb::parse(text, std::vector<uint8_t>(16)), Catch::Contains("32 bytes"));
}
