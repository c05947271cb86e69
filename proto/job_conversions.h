// Conversions between the coordinator's wire types and the data library's, written once for both
// sides of the protocol (the coordinator's ledger and plans, the worker's windows): position
// ranges <-> data::PositionSet, and the job spec -> the ingest options, so the coordinator and
// every worker tokenize and split the corpus identically and agree on N_train.
#ifndef MURMUR_PROTO_JOB_CONVERSIONS_H_
#define MURMUR_PROTO_JOB_CONVERSIONS_H_

#include "data/ingest.h"
#include "data/sampler.h"
#include "google/protobuf/repeated_field.h"
#include "proto/coordinator.pb.h"

namespace murmur {

// Negative or inverted ranges are empty (the proto's int64 could otherwise make them huge).
data::PositionSet ToPositionSet(const google::protobuf::RepeatedPtrField<v1::PositionRange>& ranges);
// Replaces the contents of `ranges`.
void ToRanges(const data::PositionSet& set,
              google::protobuf::RepeatedPtrField<v1::PositionRange>* ranges);

// The spec's max_length, validation_fraction and seed; the rest left at data's defaults.
data::IngestOptions IngestOptionsFor(const v1::JobSpec& spec);

}  // namespace murmur

#endif  // MURMUR_PROTO_JOB_CONVERSIONS_H_
