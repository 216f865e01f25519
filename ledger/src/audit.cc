#include "ledger/audit.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "common/state_file.h"

namespace senren::ledger {

absl::StatusOr<ResourceKey> ParseResourceKey(std::string_view id, std::string_view field) {
  const size_t slash = id.find('/');
  ResourceKey key;
  if (slash != std::string_view::npos) {
    key.kind = common::KindFromName(id.substr(0, slash));
    key.name = std::string(id.substr(slash + 1));
  }
  if (key.kind == v1::RESOURCE_KIND_UNSPECIFIED || key.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field ", std::string(field), ": \"", std::string(id),
                     "\" is not Kind/name (e.g. RedisDatabase/sessions, AerospikeCluster/users)"));
  }
  return key;
}

std::vector<std::string> ChangedFields(const v1::Resource& before, const v1::Resource& after) {
  const auto a = common::SpecFields(before);
  const auto b = common::SpecFields(after);
  std::vector<std::string> out;
  auto ia = a.begin();
  auto ib = b.begin();
  // Both maps are sorted by path: one merge pass.
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out.push_back((ia++)->first);
    } else if (ia == a.end() || ib->first < ia->first) {
      out.push_back((ib++)->first);
    } else {
      if (ia->second != ib->second) out.push_back(ia->first);
      ++ia;
      ++ib;
    }
  }
  return out;
}

v1::ResourceVersionChange ResourceChangeAt(uint64_t version, v1::ResourceKind kind,
                                           const std::string& name, const v1::Resource* before,
                                           const v1::Resource* after) {
  v1::ResourceVersionChange out;
  out.set_version(version);
  v1::ResourceChange* c = out.mutable_change();
  c->set_kind(kind);
  c->set_name(name);
  if (before != nullptr) *c->mutable_before() = *before;
  if (after != nullptr) *c->mutable_after() = *after;
  if (after == nullptr) {
    c->set_type(v1::ResourceChange::TYPE_DELETED);
  } else if (before == nullptr) {
    c->set_type(v1::ResourceChange::TYPE_CREATED);
  } else {
    c->set_type(v1::ResourceChange::TYPE_UPDATED);
    for (auto& f : ChangedFields(*before, *after)) out.add_changed_fields(std::move(f));
  }
  return out;
}

BlameWalk::BlameWalk(const v1::Resource& current, uint64_t version) : newer_(version) {
  for (auto& [path, value] : common::SpecFields(current)) fields_[path].value = std::move(value);
  unresolved_ = fields_.size();
}

bool BlameWalk::Older(uint64_t version, const v1::Resource* spec) {
  if (Done() || created_ != 0) return true;
  if (spec == nullptr) {
    // Deleted at `version`: the newer version created what is there now.
    AttributeRest(newer_);
    created_ = newer_;
    return true;
  }
  const auto older = common::SpecFields(*spec);
  for (auto& [path, f] : fields_) {
    if (f.set_by != 0) continue;
    auto it = older.find(path);
    if (it == older.end() || it->second != f.value) {
      f.set_by = newer_;
      --unresolved_;
    }
  }
  newer_ = version;
  return Done();
}

absl::StatusOr<bool> BlameWalk::OlderSerialized(uint64_t version, const std::string& spec) {
  if (Done() || created_ != 0) return true;
  if (!seen_.contains(spec)) {
    v1::Resource r;
    if (!r.ParseFromString(spec)) {
      return absl::DataLossError(absl::StrCat("the spec of version ", version, " does not parse"));
    }
    Older(version, &r);
    seen_.insert(spec);
    return Done();
  }
  newer_ = version;
  return Done();
}

void BlameWalk::Finish() {
  if (created_ != 0) return;
  AttributeRest(newer_);
  created_ = newer_;
}

void BlameWalk::AttributeRest(uint64_t version) {
  for (auto& [path, f] : fields_) {
    if (f.set_by == 0) f.set_by = version;
  }
  unresolved_ = 0;
}

}  // namespace senren::ledger
