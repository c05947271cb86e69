#include "proto/job_json.h"

#include <google/protobuf/util/json_util.h>

namespace murmur {

std::string OperatorJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  // Fails only for messages with invalid UTF-8 in string fields; the text is
  // then partial, which is still the most useful thing to show.
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  return text;
}

}  // namespace murmur
