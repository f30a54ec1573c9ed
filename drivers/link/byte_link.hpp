// SPDX-License-Identifier: Apache-2.0
// A byte stream to a machine (serial port or a serial-to-network bridge), behind one small interface.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mto::link {

// Thread-bound to its io_context. Writes go out in the order given; reads run from open() to close().
// After an error (read or write) the link reports it once through the error handler and is closed.
class ByteLink {
public:
    using OpenHandler = std::function<void(const boost::system::error_code&)>;
    using DataHandler = std::function<void(std::string_view bytes)>;
    using ErrorHandler = std::function<void(const boost::system::error_code&)>;

    virtual ~ByteLink() = default;
    // Opens and starts reading. `opened` runs once (success or failure); afterwards data and errors arrive
    // through the handlers until close().
    virtual void open(OpenHandler opened, DataHandler data, ErrorHandler error) = 0;
    // Closes without calling any handler again.
    virtual void close() = 0;
    virtual bool isOpen() const = 0;
    virtual void write(std::string bytes) = 0;
    // Bytes handed to write() that have not reached the OS yet.
    virtual std::size_t pendingBytes() const = 0;
    // "serial /dev/ttyUSB0 @115200" or "tcp 10.0.0.5:23", for logs.
    virtual std::string describe() const = 0;
};

// `where` is a device path (serial, opened raw 8N1 at `baud`, no flow control) or tcp://host:port.
std::unique_ptr<ByteLink> makeLink(boost::asio::io_context& io, const std::string& where, unsigned baud);

} // namespace mto::link
