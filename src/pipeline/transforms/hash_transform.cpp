// hash — a categorical feature of any number of values as `buckets` 0/1 features: the one at
// XXH3-64(the value's text, seed 0) modulo buckets is 1 ("<column>#<bucket>"). Nothing is fitted,
// so unseen values need no policy; distinct values may share a bucket.
//
//   transforms: [{hash: {columns: [user_agent], buckets: 64}}]

#include "transform_parsing.hpp"

namespace shardflow::pipeline {

namespace {

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  auto spec = std::make_shared<TransformSpec>();
  ml::FeatureTransform& t = spec->settings;
  t.kind = ml::TransformKind::kHash;
  const MapView map(value, path);
  map.allow_only({"columns", "buckets"});
  t.columns = read_columns(map.require("columns"), map.path("columns"));
  t.buckets = static_cast<int>(to_int(map.require("buckets"), map.path("buckets"), 1, 1 << 20));
  return spec;
}

}  // namespace

TransformType hash_transform_type() {
  return {"hash", "a categorical feature hashed into a fixed number of 0/1 features",
          "{hash: {columns: [user_agent], buckets: 64}}", &parse};
}

}  // namespace shardflow::pipeline
