// type: logistic — binary logistic regression (ml/linear_models.hpp) with an optional L2 penalty
// on the coefficients. The label is 0/1 (or bool).
//
//   model: {type: logistic, l2: 1.0e-4}

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ModelType logistic_model_type() {
  return {std::string(LogisticModelSpec::kType),
          "binary logistic regression, p(y = 1 | x) = sigmoid(w . x + b), optional L2 penalty",
          linear_model_keys(ml::LinearKind::kLogistic), [](const MapView& map) {
            return parse_linear_model(map, std::make_shared<LogisticModelSpec>());
          }};
}

}  // namespace shardflow::pipeline
