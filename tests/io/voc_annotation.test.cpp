// SPDX-License-Identifier: MIT
// tests/io/voc_annotation.test.cpp — PASCAL's Annotations/<id>.xml: a PASCAL-style file with
// parts, comments and attributes reads right (1-based inclusive -> 0-based half-open), the
// writer round-trips, every malformed file is an io_error naming it, and the scenes generator
// writes one box per object that bounds its class's mask pixels
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/temp_dir.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/io/voc_annotation.hpp"

namespace {

const std::vector<std::string> names{"background", "cat", "dog", "person"};

// As PASCAL VOC 2012 writes them (2007_000027.xml's layout), with a part, a comment, a
// declaration and attributes added.
const char* pascal_xml = R"(<?xml version="1.0" encoding="utf-8"?>
<!-- a comment before the root -->
<annotation verified="yes">
	<folder>VOC2012</folder>
	<filename>2007_000027.jpg</filename>
	<source><database>The VOC2007 Database</database></source>
	<size>
		<width>486</width>
		<height>500</height>
		<depth>3</depth>
	</size>
	<segmented>0</segmented>
	<object>
		<name>person</name>
		<pose>Unspecified</pose>
		<truncated>0</truncated>
		<difficult>0</difficult>
		<bndbox>
			<xmin>174</xmin>
			<ymin>101</ymin>
			<xmax>349</xmax>
			<ymax>351</ymax>
		</bndbox>
		<part>
			<name>head</name>
			<bndbox><xmin>169</xmin><ymin>104</ymin><xmax>209</xmax><ymax>146</ymax></bndbox>
		</part>
	</object>
	<object><name> cat </name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>486.0</xmax><ymax>500</ymax></bndbox><empty/></object>
</annotation>
)";

}  // namespace

TEST_CASE("io: a PASCAL annotation reads as 0-based half-open boxes, parts skipped") {
  const auto a = wsss::io::parse_voc_annotation(pascal_xml, names);
  CHECK(a.width == 486);
  CHECK(a.height == 500);
  REQUIRE(a.boxes.size() == 2);
  CHECK(a.boxes[0].label == 3);
  CHECK(a.boxes[0].x0 == 173);
  CHECK(a.boxes[0].y0 == 100);
  CHECK(a.boxes[0].x1 == 349);
  CHECK(a.boxes[0].y1 == 351);
  CHECK(a.boxes[1].label == 1);  // the name is trimmed
  CHECK(a.boxes[1].x0 == 0);
  CHECK(a.boxes[1].x1 == 486);
  CHECK(a.boxes[1].y1 == 500);
}

TEST_CASE("io: write_voc_annotation round-trips") {
  wsss_test::temp_dir tmp;
  const wsss::io::voc_annotation a{.width = 40, .height = 30,
                                   .boxes = {{.x0 = 0, .y0 = 0, .x1 = 40, .y1 = 30, .label = 2},
                                             {.x0 = 5, .y0 = 7, .x1 = 6, .y1 = 8, .label = 3}}};
  wsss::io::write_voc_annotation(tmp / "a.xml", "a.jpg", a, names);
  const auto b = wsss::io::read_voc_annotation(tmp / "a.xml", names);
  CHECK(b.width == 40);
  CHECK(b.height == 30);
  REQUIRE(b.boxes.size() == 2);
  for (std::size_t k = 0; k < 2; ++k) {
    CHECK(b.boxes[k].x0 == a.boxes[k].x0);
    CHECK(b.boxes[k].y0 == a.boxes[k].y0);
    CHECK(b.boxes[k].x1 == a.boxes[k].x1);
    CHECK(b.boxes[k].y1 == a.boxes[k].y1);
    CHECK(b.boxes[k].label == a.boxes[k].label);
  }
  CHECK_THROWS_AS(wsss::io::write_voc_annotation(tmp / "b.xml", "b.jpg", {.width = 4, .height = 4, .boxes = {{.label = 9}}}, names),
                  wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::io::read_voc_annotation(tmp / "none.xml", names), doctest::Contains("none.xml"), wsss::io_error);
}

TEST_CASE("io: every malformed annotation is an io_error naming the file and the problem") {
  const std::string ok_size = "<size><width>10</width><height>10</height></size>";
  const std::string box = "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>";
  const std::vector<std::pair<std::string, std::string>> bad{
      {"", "no root element"},
      {"<annotation>", "never closed"},
      {"<annotation></annot>", "closes <annotation>"},
      {"<annotation>" + ok_size + "</annotation> trailing", "text after the root"},
      {"<annotation a=1></annotation>", "quoted attribute"},
      {"<annotation>&nbsp;</annotation>", "unknown entity"},
      {"<annotation><!-- open </annotation>", "unterminated comment"},
      {"<root/>", "not <annotation>"},
      {"<annotation></annotation>", "has no <size>"},
      {"<annotation><size><width>x</width><height>10</height></size></annotation>", "not an integer"},
      {"<annotation><size><width>2.5</width><height>10</height></size></annotation>", "not an integer"},
      {"<annotation><size><width>77777777777777777774</width><height>10</height></size></annotation>", "not an integer"},
      {"<annotation><size><width>nan</width><height>10</height></size></annotation>", "not an integer"},
      {"<annotation><size><width>0</width><height>10</height></size></annotation>", "is empty"},
      {"<annotation>" + ok_size + "<object>" + box + "</object></annotation>", "has no <name>"},
      {"<annotation>" + ok_size + "<object><name>horse</name>" + box + "</object></annotation>", "'horse' is not one"},
      {"<annotation>" + ok_size + "<object><name>background</name>" + box + "</object></annotation>", "is not one"},
      {"<annotation>" + ok_size + "<object><name>cat</name></object></annotation>", "has no <bndbox>"},
      {"<annotation>" + ok_size +
           "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>11</xmax><ymax>5</ymax></bndbox></object></annotation>",
       "outside the 10x10 image"},
      {"<annotation>" + ok_size +
           "<object><name>cat</name><bndbox><xmin>4</xmin><ymin>1</ymin><xmax>3</xmax><ymax>5</ymax></bndbox></object></annotation>",
       "is empty or outside"},
  };
  std::string deep;  // a million nested elements must not overflow the stack
  for (int k = 0; k < 1000000; ++k) deep += "<a>";
  CHECK_THROWS_WITH_AS(wsss::io::parse_voc_annotation(deep, names, "deep.xml"), doctest::Contains("nested deeper than 64"),
                       wsss::io_error);
  for (const auto& entry : bad) {
    const std::string& text = entry.first;
    const std::string& why = entry.second;
    INFO(text);
    CHECK_THROWS_WITH_AS(wsss::io::parse_voc_annotation(text, names, "ann/x.xml"), doctest::Contains(why.c_str()),
                         wsss::io_error);
    CHECK_THROWS_WITH_AS(wsss::io::parse_voc_annotation(text, names, "ann/x.xml"), doctest::Contains("ann/x.xml"),
                         wsss::io_error);
  }
}

TEST_CASE("io: the scenes generator writes one box per object, bounding its class's mask pixels") {
  wsss_test::temp_dir tmp;
  wsss::data::scenes_options o;
  o.items = wsss::data::embedded_fashion_subset(std::filesystem::path(WSSS_SOURCE_DIR) / "examples" / "data");
  o.train_images = 5;
  o.val_images = 2;
  o.scene.size = 48;
  o.scene.min_objects = 2;
  o.scene.max_objects = 3;
  wsss::data::make_scenes(tmp / "s", o);
  const wsss::io::voc_dataset d(tmp / "s", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto boxes = d.boxes(i);
    const auto mask = d.mask(i);
    INFO(d.id(i));
    CHECK(boxes.size() >= 1);
    for (wsss::index_t y = 0; y < 48; ++y)
      for (wsss::index_t x = 0; x < 48; ++x) {
        const int c = mask(y, x);
        if (c == 0) continue;
        bool inside = false;  // every object pixel lies in a box of its class
        for (const auto& b : boxes) inside = inside || (b.label == c && x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1);
        CHECK(inside);
      }
    for (const auto& b : boxes) {  // each box is tight: its class appears on each of its edges
      bool top = false, bottom = false, left = false, right = false;
      for (wsss::index_t x = b.x0; x < b.x1; ++x) top = top || mask(b.y0, x) == b.label, bottom = bottom || mask(b.y1 - 1, x) == b.label;
      for (wsss::index_t y = b.y0; y < b.y1; ++y) left = left || mask(y, b.x0) == b.label, right = right || mask(y, b.x1 - 1) == b.label;
      CHECK((top && bottom && left && right));
      CHECK(std::binary_search(d.tags(i).begin(), d.tags(i).end(), b.label));
    }
  }
}
