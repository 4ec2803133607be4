// radius_probe: drives espgw-ike's EAP-RADIUS relay (EapRadiusServer) and accounting
// (RadiusAccounting) against real RADIUS servers, for test/interop/radius_freeradius.py.
// It plays the IKE peer's part with its own minimal EAP peer (EAP-MD5, RFC 3748 §5.4;
// EAP-GTC answering the prompt with --otp or the password; Nak to anything else),
// independent of espgw's code.
//
//   radius_probe auth --server ADDR:PORT[:ACCTPORT] ... --secret S [--timeout S] [--retries N]
//                     --user U --password P [--otp X] [--nas-id ID]
//     prints "ROUND <n> <eap type> <prompt>" per challenge, then
//     "RESULT SUCCESS user=U msk=<len> framed_ip=A.B.C.D groups=G1,G2" or
//     "RESULT FAILURE reason=<why>", and "COUNTERS ...".
//   radius_probe acct ... --user U [--framed-ip A.B.C.D] --in-octets N --out-octets N
//                     --in-packets N --out-packets N [--interim S] [--duration S]
//     Start, Interim-Updates every --interim s for --duration s, Stop; prints
//     "ACCT session=<id> starts=.. interims=.. stops=.. answered=.. timeouts=..".
#include "control/ike/eap_radius.hpp"
#include "control/ike/log.hpp"
#include "control/ike/radius_accounting.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace espgw;

namespace {

struct Args {
    std::string mode;
    std::vector<std::string> servers;
    std::map<std::string, std::string> opt;
    std::string get(const std::string& k, const std::string& d = "") const {
        auto it = opt.find(k);
        return it == opt.end() ? d : it->second;
    }
};

std::vector<uint8_t> md5(std::span<const uint8_t> a) {
    std::vector<uint8_t> out(16);
    unsigned int n = 0;
    EVP_Digest(a.data(), a.size(), out.data(), &n, EVP_md5(), nullptr);
    return out;
}

// The peer's answer to one EAP Request.
std::vector<uint8_t> answer(const std::vector<uint8_t>& req, const std::string& user, const std::string& password,
                            const std::string& otp, std::string* prompt) {
    const uint8_t id = req[1];
    const uint8_t type = req.size() > 4 ? req[4] : 0;
    std::vector<uint8_t> r = {2, id, 0, 0, type};
    if (type == 1) {  // Identity
        r.insert(r.end(), user.begin(), user.end());
    } else if (type == 4 && req.size() >= 6) {  // MD5-Challenge: MD5(id | password | challenge)
        const size_t vlen = req[5];
        if (req.size() < 6 + vlen) return {};
        std::vector<uint8_t> in = {id};
        in.insert(in.end(), password.begin(), password.end());
        in.insert(in.end(), req.begin() + 6, req.begin() + 6 + static_cast<ptrdiff_t>(vlen));
        auto h = md5(in);
        r.push_back(16);
        r.insert(r.end(), h.begin(), h.end());
    } else if (type == 6) {  // GTC: the prompt is text, the answer the OTP (or password)
        *prompt = std::string(req.begin() + 5, req.end());
        const std::string& a = otp.empty() ? password : otp;
        r.insert(r.end(), a.begin(), a.end());
    } else {  // Nak: we do MD5
        r[4] = 3;
        r.push_back(4);
    }
    r[2] = static_cast<uint8_t>(r.size() >> 8);
    r[3] = static_cast<uint8_t>(r.size());
    return r;
}

std::string ip_str(uint32_t host) {
    in_addr a{htonl(host)};
    char b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, b, sizeof b);
    return b;
}

ike::EapStep wait(ike::EapRadiusServer& s, ike::EapStep st) {
    while (st.kind == ike::EapStep::Kind::PENDING) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        st = s.poll();
    }
    return st;
}

std::shared_ptr<radius::Client> make_client(const Args& a) {
    radius::ClientConfig cfg;
    auto secret = std::make_shared<const crypto::SecretBytes>(
        std::span(reinterpret_cast<const uint8_t*>(a.get("secret").data()), a.get("secret").size()));
    for (const auto& s : a.servers) {
        radius::ServerConfig sc;
        const auto c1 = s.find(':');
        sc.address = s.substr(0, c1);
        const auto c2 = s.find(':', c1 + 1);
        sc.port = static_cast<uint16_t>(std::stoi(s.substr(c1 + 1, c2 - c1 - 1)));
        sc.acct_port = c2 == std::string::npos ? sc.port + 1 : static_cast<uint16_t>(std::stoi(s.substr(c2 + 1)));
        sc.secret = secret;
        cfg.servers.push_back(sc);
    }
    cfg.timeout_s = std::stod(a.get("timeout", "15"));
    cfg.retries = static_cast<uint32_t>(std::stoul(a.get("retries", "2")));
    return std::make_shared<radius::Client>(cfg);
}

void print_counters(const radius::Client& c) {
    const auto& k = c.counters();
    std::printf("COUNTERS sent=%llu retransmits=%llu failovers=%llu timeouts=%llu replies=%llu dropped_bad_auth=%llu\n",
                (unsigned long long)k.sent, (unsigned long long)k.retransmits, (unsigned long long)k.failovers,
                (unsigned long long)k.timeouts, (unsigned long long)k.replies, (unsigned long long)k.dropped_bad_auth);
}

int run_auth(const Args& a) {
    auto client = make_client(a);
    ike::EapRadiusParams p;
    p.client = client;
    p.nas_identifier = a.get("nas-id", "espgw-probe");
    p.local = {0x7f000001, 4500};
    p.remote = {0xc0000207, 4500};
    ike::EapRadiusServer srv(p);
    const std::string user = a.get("user"), password = a.get("password"), otp = a.get("otp");
    auto st = wait(srv, srv.start(user));
    int round = 0;
    while (st.kind == ike::EapStep::Kind::CONTINUE && round < 20) {
        std::string prompt;
        auto resp = answer(st.eap, user, password, otp, &prompt);
        std::printf("ROUND %d %d %s\n", ++round, st.eap.size() > 4 ? st.eap[4] : 0, prompt.c_str());
        st = wait(srv, srv.process(resp));
    }
    if (st.kind == ike::EapStep::Kind::SUCCESS) {
        std::string groups;
        for (const auto& g : st.groups) groups += (groups.empty() ? "" : ",") + g;
        std::printf("RESULT SUCCESS user=%s msk=%zu framed_ip=%s groups=%s eap_code=%d\n", st.user.c_str(),
                    st.msk.size(), st.framed_ip ? ip_str(*st.framed_ip).c_str() : "-", groups.c_str(),
                    st.eap.empty() ? 0 : st.eap[0]);
    } else {
        std::printf("RESULT FAILURE reason=%s eap_code=%d\n", st.reason.c_str(), st.eap.empty() ? 0 : st.eap[0]);
    }
    print_counters(*client);
    return 0;
}

int run_acct(const Args& a) {
    auto client = make_client(a);
    ike::RadiusAccounting acct(client, static_cast<uint32_t>(std::stoul(a.get("interim", "0"))));
    std::optional<uint32_t> fip;
    if (!a.get("framed-ip").empty()) {
        in_addr x{};
        inet_pton(AF_INET, a.get("framed-ip").c_str(), &x);
        fip = ntohl(x.s_addr);
    }
    ike::SaUsage u;
    u.in_bytes = std::stoull(a.get("in-octets", "0"));
    u.out_bytes = std::stoull(a.get("out-octets", "0"));
    u.in_packets = std::stoull(a.get("in-packets", "0"));
    u.out_packets = std::stoull(a.get("out-packets", "0"));
    const uint64_t key = 0x1234abcd;
    auto now = ike::RadiusAccounting::Clock::now();
    const std::string id =
        acct.start(key, a.get("user"), a.get("nas-id", "espgw-probe"), {0x7f000001, 4500}, {0xc0000207, 4500}, fip, now);
    const auto end = now + std::chrono::milliseconds(static_cast<int>(std::stod(a.get("duration", "0")) * 1000));
    while (ike::RadiusAccounting::Clock::now() < end) {
        acct.tick(ike::RadiusAccounting::Clock::now(), [&](uint64_t) { return u; });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    acct.stop(key, u, radius::kTerminateUserRequest, ike::RadiusAccounting::Clock::now());
    while (acct.in_flight()) {
        acct.tick(ike::RadiusAccounting::Clock::now(), {});
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto& c = acct.counters();
    std::printf("ACCT session=%s starts=%llu interims=%llu stops=%llu answered=%llu timeouts=%llu\n", id.c_str(),
                (unsigned long long)c.starts, (unsigned long long)c.interims, (unsigned long long)c.stops,
                (unsigned long long)c.answered, (unsigned long long)c.timeouts);
    print_counters(*client);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: radius_probe auth|acct --server A:P[:AP] ... --secret S ...\n");
        return 2;
    }
    Args a;
    a.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0) {
            std::fprintf(stderr, "radius_probe: unexpected '%s'\n", argv[i]);
            return 2;
        }
        k = k.substr(2);
        if (k == "server")
            a.servers.push_back(argv[i + 1]);
        else
            a.opt[k] = argv[i + 1];
    }
    ike::log_set_enabled(true);
    try {
        if (a.mode == "auth") return run_auth(a);
        if (a.mode == "acct") return run_acct(a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "radius_probe: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "radius_probe: unknown mode %s\n", a.mode.c_str());
    return 2;
}
