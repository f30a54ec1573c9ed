// SPDX-License-Identifier: Apache-2.0
// Socket-level control of the process's connections to the broker, which Paho opens itself.
#include "uplink/socket_tuning.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace mto {

namespace {

int portOf(const std::string& uri) {
    auto colon = uri.rfind(':');
    if (colon == std::string::npos || uri.find("://") == colon) return uri.rfind("ssl://", 0) == 0 ? 8883 : 1883;
    return std::atoi(uri.c_str() + colon + 1);
}

// Calls `f` with every TCP socket of this process whose peer is the broker's port.
template <class F>
int forEachBrokerSocket(const std::string& mqttUri, F f) {
    const int port = portOf(mqttUri);
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return 0;
    int changed = 0;
    while (dirent* entry = readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || fd < 0 || fd == dirfd(dir)) continue;
        struct stat st {};
        if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
        int peerPort = -1;
        if (peer.ss_family == AF_INET)
            peerPort = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
        else if (peer.ss_family == AF_INET6)
            peerPort = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
        if (peerPort != port) continue;
        int type = 0;
        socklen_t tlen = sizeof type;
        if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) continue;
        if (f(static_cast<int>(fd))) ++changed;
    }
    closedir(dir);
    return changed;
}

} // namespace

int enableNoDelayTowards(const std::string& mqttUri) {
    return forEachBrokerSocket(mqttUri, [](int fd) {
        int one = 1;
        return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
    });
}

int shutdownTowards(const std::string& mqttUri) {
    return forEachBrokerSocket(mqttUri, [](int fd) { return ::shutdown(fd, SHUT_RDWR) == 0; });
}

} // namespace mto
