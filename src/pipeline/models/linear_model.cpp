// type: linear — least-squares linear regression, ridge with l2 > 0 (ml/linear_models.hpp). The
// label is any finite number. Objective: mean (w . x + b - y)^2 / 2 + l2/2 ||w||^2, which is
// scikit-learn's Ridge with alpha = l2 * rows.
//
//   model: {type: linear, l2: 1.0e-3}

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ModelType linear_model_type() {
  return {"linear", "linear regression on squared error, y = w . x + b, optional L2 (ridge)",
          linear_model_keys(ml::LinearKind::kLinear), [](const MapView& map) {
            auto spec = std::make_shared<LinearModelSpec>();
            spec->kind = ml::LinearKind::kLinear;
            return parse_linear_model(map, spec);
          }};
}

}  // namespace shardflow::pipeline
