// CRC-32C (Castagnoli), the checksum of TFRecord framing (TensorBoard event files) and of many
// storage formats; and TFRecord's "masked" form of it. Table-driven, one byte at a time: the
// event files it frames are small. Pure functions; thread-safe.
#ifndef MURMUR_BASE_CRC32C_H_
#define MURMUR_BASE_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace murmur {

// CRC-32C of `data` (reflected polynomial 0x82F63B78, initial and final value 0xFFFFFFFF).
uint32_t Crc32c(absl::string_view data);

// TFRecord's masked CRC: rotated right by 15 bits plus 0xa282ead8, so that a CRC of data that
// itself holds CRCs does not degenerate.
uint32_t MaskedCrc32c(absl::string_view data);

}  // namespace murmur

#endif  // MURMUR_BASE_CRC32C_H_
