package anomaly

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// core is all of a detector's learned state: fixed-size fields only, so
// the encoding is a fixed length and decoding garbage cannot allocate.
type core struct {
	N                int64
	FirstNs, LastNs  int64
	Level, Scale     float64
	Min, Max         float64
	Drift            float64
	Shift            [shiftRun]float64
	ShiftPos         int64
	ShiftUp          int32
	ShiftDown        int32
	Season           int32
	HourLen, HourPos int32
	HourCnt          int32
	CurHour          int64
	HourSum          float64
	HourBuf          [hourCap]float32
	Week             [weekBins]float64
	WeekN            [weekBins]uint32
	WeekSum          float64
	WeekFilled       int32
	Day              [dayBins]float64
	DayN             [dayBins]uint32
	DaySum           float64
	DayFilled        int32
	Like             likeState
	HoldLeft         int64
	HoldSince        int64
	NovLike          likeState
	NovPos, NovLen   int32
	NovHist          [novOrder]uint8
	NovTab           [novSlots]uint16
	SpikeMax         float64
	Proto            protoState
	LikeRecur        recurGate
	SpikeRecur       recurGate
	ShapeRecur       recurGate
	Step             stepState
	StepRecur        recurGate
	ShiftMax         float64
	ShiftRecur       recurGate
	NovPrev          float64    // the last point's novelty likelihood (seventh round)
	StepAlertN       int64      // N at the step member's last alert of its own (step budget)
	Blk              blockState // the block-median member (eleventh round)
}

const stateMagic = "VGAD9"

// MarshalBinary encodes the learned state (not the Config: restore with
// New(sameConfig) then UnmarshalBinary).
func (d *Detector) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(stateMagic) + binary.Size(&d.c))
	b.WriteString(stateMagic)
	if err := binary.Write(&b, binary.LittleEndian, &d.c); err != nil {
		return nil, fmt.Errorf("cannot encode detector state: %w", err)
	}
	return b.Bytes(), nil
}

// UnmarshalBinary replaces the learned state with data from MarshalBinary
// of the same version. On error the detector is unchanged.
func (d *Detector) UnmarshalBinary(data []byte) error {
	want := len(stateMagic) + binary.Size(&d.c)
	if len(data) != want || string(data[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("cannot decode detector state: want %d bytes starting %q, got %d bytes", want, stateMagic, len(data))
	}
	var c core
	if err := binary.Read(bytes.NewReader(data[len(stateMagic):]), binary.LittleEndian, &c); err != nil {
		return fmt.Errorf("cannot decode detector state: %w", err)
	}
	if err := c.check(); err != nil {
		return fmt.Errorf("cannot decode detector state: %w", err)
	}
	d.c = c
	return nil
}

// check rejects states whose indexes would panic later.
func (c *core) check() error {
	switch {
	case c.HourLen < 0 || c.HourLen > hourCap || c.HourPos < 0 || c.HourPos >= hourCap:
		return errors.New("hour buffer index out of range")
	case c.Like.RecentPos < 0 || c.Like.RecentPos >= avgWin || c.NovLike.RecentPos < 0 || c.NovLike.RecentPos >= avgWin ||
		c.Step.Like.RecentPos < 0 || c.Step.Like.RecentPos >= avgWin:
		return errors.New("recent score index out of range")
	case c.WeekFilled < 0 || c.WeekFilled > weekBins || c.DayFilled < 0 || c.DayFilled > dayBins:
		return errors.New("profile fill count out of range")
	case c.Season < seasonAuto || c.Season > seasonWeekly:
		return errors.New("unknown season")
	case c.ShiftPos < 0 || c.ShiftPos >= shiftRun || c.NovPos < 0 || c.NovPos >= novOrder || c.NovLen < 0 || c.NovLen > novOrder:
		return errors.New("ring index out of range")
	case c.Proto.AccN < 0 || c.Proto.AccN >= protoStep || c.Proto.WinPos < 0 || c.Proto.WinPos >= protoLen ||
		c.Proto.WinLen < 0 || c.Proto.WinLen > protoLen || c.Proto.Count < 0 || c.Proto.Count > protoSlots:
		return errors.New("shape memory index out of range")
	case c.Blk.Pos < 0 || c.Blk.Pos >= blockMax || c.Blk.Len < 0 || c.Blk.Len > blockMax:
		return errors.New("block ring index out of range")
	case c.N < 0 || c.HourCnt < 0 || c.HoldLeft < 0 || c.HoldSince < 0 || c.StepAlertN < 0:
		return errors.New("negative counter")
	}
	return nil
}

// StateSize is the length of MarshalBinary's encoding: the bytes of
// learned state a detector keeps, whatever its history.
var StateSize = len(stateMagic) + binary.Size(&core{})
