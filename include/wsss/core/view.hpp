// SPDX-License-Identifier: MIT
// wsss/core/view.hpp — zero-copy Eigen views of tensors for the math (row-major maps)
#pragma once

#include <Eigen/Core>

#include "wsss/core/tensor.hpp"

namespace wsss {

template <class T>
using matrix_map = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Aligned64>;
template <class T>
using const_matrix_map =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Aligned64>;
template <class T>
using vector_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <class T>
using const_vector_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;

/// The tensor as a rows x cols row-major matrix (rows * cols must equal numel).
template <class T>
matrix_map<T> as_matrix(basic_tensor<T>& t, index_t rows, index_t cols) {
  if (rows * cols != t.numel())
    throw_shape("as_matrix", "cannot view ", t.shape(), " as ", rows, "x", cols);
  return matrix_map<T>(t.data(), rows, cols);
}
template <class T>
const_matrix_map<T> as_matrix(const basic_tensor<T>& t, index_t rows, index_t cols) {
  if (rows * cols != t.numel())
    throw_shape("as_matrix", "cannot view ", t.shape(), " as ", rows, "x", cols);
  return const_matrix_map<T>(t.data(), rows, cols);
}
/// Rank >= 2 tensor as (first axis) x (rest), e.g. C x HW for a CHW map.
template <class T>
auto as_matrix(basic_tensor<T>& t) { return as_matrix(t, t.dim(0), t.numel() / std::max<index_t>(t.dim(0), 1)); }
template <class T>
auto as_matrix(const basic_tensor<T>& t) { return as_matrix(t, t.dim(0), t.numel() / std::max<index_t>(t.dim(0), 1)); }

/// All elements as a flat Eigen array (for coefficient-wise math).
template <class T>
vector_map<T> as_array(basic_tensor<T>& t) { return vector_map<T>(t.data(), t.numel()); }
template <class T>
const_vector_map<T> as_array(const basic_tensor<T>& t) { return const_vector_map<T>(t.data(), t.numel()); }

}  // namespace wsss
