// type: softmax — multinomial logistic regression (ml/linear_models.hpp): one margin per class,
// P(c | x) = e^{z_c} / sum_k e^{z_k}, cross-entropy loss, optional L2 on the coefficients. The
// classes are the distinct values of the (numeric) label in the training data, found across
// ranks before training and saved with the model (model/classes).
//
//   model: {type: softmax, l2: 1.0e-4}

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ModelType softmax_model_type() {
  return {"softmax",
          "multiclass logistic regression, P(c | x) = softmax(W x + b)_c, optional L2 penalty",
          linear_model_keys(ml::LinearKind::kSoftmax), [](const MapView& map) {
            auto spec = std::make_shared<LinearModelSpec>();
            spec->kind = ml::LinearKind::kSoftmax;
            return parse_linear_model(map, spec);
          }};
}

}  // namespace shardflow::pipeline
