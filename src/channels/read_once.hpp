// Single reads of plain (non-atomic) fields that the other process may rewrite at any moment:
// copy once into a local, then validate the local. Reading twice would let a hostile peer
// change the value between the check and the use (a double fetch).
#pragma once

#include <atomic>
#include <cstring>
#include <type_traits>

namespace culvert::channels {

// One untorn relaxed load for naturally aligned scalars up to 8 bytes (what every index,
// length and offset in our wire structs is); a single memcpy for anything larger, whose
// fields the caller then validates from the copy.
template <class T>
T read_once(const T& field) {
    static_assert(std::is_trivially_copyable_v<T>, "shared fields must be plain data");
    if constexpr ((sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) &&
                  alignof(T) == sizeof(T) && std::is_scalar_v<T>) {
        // atomic_ref needs a non-const object; the load does not write it.
        return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
    } else {
        T copy;
        std::memcpy(static_cast<void*>(&copy), &field, sizeof(T));
        return copy;
    }
}

// The mirror image, for fields we publish into shared memory before a release store.
template <class T>
void write_once(T& field, T value) {
    static_assert(std::is_trivially_copyable_v<T>, "shared fields must be plain data");
    if constexpr ((sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) &&
                  alignof(T) == sizeof(T) && std::is_scalar_v<T>) {
        std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
    } else {
        std::memcpy(static_cast<void*>(&field), &value, sizeof(T));
    }
}

}  // namespace culvert::channels
