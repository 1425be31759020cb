// Names of ChannelError values, for logs and test messages.
#include "channels/errors.hpp"

namespace culvert::channels {

const char* to_string(ChannelError error) {
    switch (error) {
        case ChannelError::corrupt_index:
            return "corrupt_index";
        case ChannelError::corrupt_length:
            return "corrupt_length";
        case ChannelError::out_of_bounds:
            return "out_of_bounds";
        case ChannelError::bad_magic:
            return "bad_magic";
        case ChannelError::bad_version:
            return "bad_version";
        case ChannelError::full:
            return "full";
        case ChannelError::empty:
            return "empty";
        case ChannelError::closed:
            return "closed";
        case ChannelError::timeout:
            return "timeout";
        case ChannelError::system:
            return "system";
    }
    // A value outside the enum can only come from a cast of garbage: say so, don't crash.
    return "unknown_channel_error";
}

}  // namespace culvert::channels
